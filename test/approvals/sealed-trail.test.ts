/**
 * A vote on a job that has ended is refused without touching its sealed, signed audit trail: the refusal is kept
 * beside the trail (audit_refusals), the head and its signature stay, and the trail still verifies.
 */
import { builtinRegistry } from '../../activities';
import { ApprovalRefusedError, deliverVote } from '../../approvals/deliver';
import { submitJob } from '../../src/jobs/submit';
import { directory, pendingRequest, vote } from '../helpers/approvals';
import { attestationKeys, testAttestor } from '../helpers/attestation';
import { makeRepo } from '../helpers/git';
import { fixture, testWorker, uniqueId, useTemporalServer } from '../helpers/temporal';
import { eventually } from '../helpers/wait';

const temporal = useTemporalServer();

test('a vote after the end is refused and recorded beside the sealed trail, which still verifies', async () => {
  const { repo, cleanup } = makeRepo();
  const { worker, taskQueue } = await testWorker(temporal.env, { policy: fixture('policy-approvals.yaml') });
  const audit = temporal.audit();
  try {
    await worker.runUntil(async () => {
      const { handle, jobId } = await submitJob(
        temporal.env.client,
        {
          agent: 'release-bot',
          title: 'Ship',
          steps: [
            { id: 'branch', action: 'git.create_branch', input: { repo, branch: 'rel', from: 'main' } },
            { id: 'merge', action: 'git.merge', input: { repo, source: 'rel', target: 'main' } },
          ],
        },
        { registry: builtinRegistry(), taskQueue, requester: 'erin', jobId: uniqueId('job'), attestationKeys },
      );
      const request = await pendingRequest(handle);
      await vote(temporal.env.client, 'alice', request.id, 'approve');
      await vote(temporal.env.client, 'bob', request.id, 'approve');
      await handle.result();
      const signed = await eventually(async () => (await audit.head(jobId))?.signature && audit.head(jobId), 'signed');

      const late = deliverVote(
        temporal.env.client,
        testAttestor,
        {
          person: directory.person('carol')!,
          channelIdentity: 'token:test',
          requestId: request.id,
          decision: 'reject',
          channel: 'api',
        },
        audit,
        'req-late',
      );
      await expect(late).rejects.toBeInstanceOf(ApprovalRefusedError);
      await expect(late).rejects.toMatchObject({ code: 'request_closed' });

      expect(await audit.head(jobId)).toEqual(signed);
      expect(await audit.verify(jobId)).toMatchObject({ ok: true, signed: true });
      expect((await audit.events(jobId)).filter((e) => e.type === 'approval.refused')).toEqual([]);
      expect(await audit.outsideTrail(jobId)).toEqual([
        expect.objectContaining({
          type: 'approval.refused',
          actor: 'carol',
          requestId: 'req-late',
          data: expect.objectContaining({ code: 'request_closed', decision: 'reject' }),
        }),
      ]);
    });
  } finally {
    cleanup();
  }
});
