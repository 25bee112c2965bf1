/**
 * Fault suite: nobody answers an approval request in time. The job compensates what it did, in reverse order; a vote
 * arriving after the timeout is refused with a reason, and nothing is appended to the trail, which stays sealed
 * and signed and verifies.
 */

import { builtinRegistry } from '../../activities';
import { submitJob } from '../../src/jobs/submit';
import { jobStateQuery } from '../../workflows/messages';
import { pendingRequest, vote } from '../helpers/approvals';
import { attestationKeys } from '../helpers/attestation';
import { gitOut, makeRepo } from '../helpers/git';
import { testWorker, uniqueId, useTemporalServer } from '../helpers/temporal';
import { eventually } from '../helpers/wait';
import { mergeJob, mergePolicy } from './helpers';

const temporal = useTemporalServer();
const { policy } = mergePolicy('airlock-timeout-', {
  allow: ['git.create_branch', 'git.commit'],
  approval: '{ groups: [sre], quorum: 1, timeout: 3s, channels: [api] }',
});

test('approval timeout: compensation in reverse, a late vote refused, the trail sealed and signed', async () => {
  const { repo, cleanup } = makeRepo();
  const { worker, taskQueue } = await testWorker(temporal.env, { policy });
  try {
    await worker.runUntil(async () => {
      const { handle, jobId } = await submitJob(
        temporal.env.client,
        mergeJob('Nobody answers', repo, 'late', { commit: { message: 'Add', path: 'l.txt', content: 'l\n' } }),
        { registry: builtinRegistry(), taskQueue, requester: 'bob', attestationKeys, jobId: uniqueId('job') },
      );
      const request = await pendingRequest(handle);
      await handle.result().catch(() => undefined);
      const state = await handle.query(jobStateQuery);
      expect(state.approvals[0].status).toBe('timed_out');
      // Undone, newest first: the commit, then the branch.
      const audit = temporal.audit();
      const events = await audit.events(jobId);
      const undone = events
        .filter((e) => e.type === 'compensation.finished')
        .map((e) => (e.data as { stepId?: string }).stepId);
      expect(undone).toEqual(['commit', 'branch']);
      expect(gitOut(repo, 'branch', '--list', 'late')).toBe('');

      // A vote after the timeout: refused with a reason, never silently lost, and not appended to the sealed trail.
      await expect(vote(temporal.env.client, 'alice', request.id, 'approve')).rejects.toThrow(
        /ended|closed|timed out/i,
      );
      await eventually(async () => (await audit.head(jobId))?.signature, 'the signed head');
      expect(await audit.verify(jobId)).toMatchObject({ ok: true });
      expect((await audit.events(jobId)).length).toBe(events.length);
      expect((await audit.events(jobId)).filter((e) => e.type === 'approval.vote')).toHaveLength(0);
    });
  } finally {
    cleanup();
  }
});
