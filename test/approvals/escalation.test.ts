/**
 * On the time-skipping test server: a 4-hour approval timeout escalates to the SRE leads, whose 1-hour timeout then
 * rejects the step and compensates — in seconds of real time.
 */
import { WorkflowFailedError } from '@temporalio/client';
import type { ApplicationFailure } from '@temporalio/common';
import { builtinRegistry } from '../../activities';
import { submitJob } from '../../src/jobs/submit';
import { startTimeSkippingServer } from '../helpers/time-skipping';
import { jobStateQuery } from '../../workflows/messages';
import { searchAttributeKeys } from '../../src/core/search-attributes';
import { recordingChannel } from '../helpers/approvals';
import { gitOk, makeRepo } from '../helpers/git';
import { fixture, testWorker, uniqueId, useTemporalServer } from '../helpers/temporal';
import { attestationKeys } from '../helpers/attestation';
import { eventually } from '../helpers/wait';

const temporal = useTemporalServer(async () => {
  const env = await startTimeSkippingServer();
  // The test server keeps custom search attributes only once they are registered.
  await env.connection.operatorService
    .addSearchAttributes({
      namespace: env.namespace ?? 'default',
      searchAttributes: Object.fromEntries(searchAttributeKeys.map((k) => [k.name, 2 /* KEYWORD */])),
    })
    .catch(() => undefined);
  return env;
});

test('no decision in 4h escalates to the leads; no decision in 1h more rejects and compensates', async () => {
  const { repo, cleanup } = makeRepo();
  const rec = recordingChannel();
  const { worker, taskQueue } = await testWorker(temporal.env, {
    policy: fixture('policy-escalation.yaml'),
    channels: [rec.channel],
  });
  try {
    await worker.runUntil(async () => {
      const started = Date.now();
      const { handle, jobId } = await submitJob(
        temporal.env.client,
        {
          agent: 'release-bot',
          title: 'Ship to production-infra',
          steps: [
            { id: 'branch', action: 'git.create_branch', input: { repo, branch: 'rel', from: 'main' } },
            {
              id: 'bump',
              action: 'git.commit',
              input: { repo, branch: 'rel', message: 'Bump', files: [{ path: 'VERSION', content: '2\n' }] },
            },
            { id: 'merge', action: 'git.merge', input: { repo, source: 'rel', target: 'main' } },
          ],
        },
        { registry: builtinRegistry(), taskQueue, requester: 'erin', attestationKeys, jobId: uniqueId('job') },
      );
      const err = await handle.result().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WorkflowFailedError);
      const failure = (err as WorkflowFailedError).cause as ApplicationFailure;
      expect(failure.type).toBe('ApprovalTimedOut');
      expect(failure.message).toBe(`no decision on ${jobId}:merge in time, even after escalating to sre-leads`);

      const state = await handle.query(jobStateQuery);
      expect(state.status).toBe('timed_out');
      expect(state.approvals[0]).toMatchObject({
        status: 'timed_out',
        escalated: true,
        groups: ['sre-leads'],
        quorum: 1,
      });
      expect(state.compensated).toEqual(['bump', 'branch']);
      // Five hours passed on the server's clock.
      const elapsedServerMs = Date.parse(state.endedAt!) - Date.parse(state.startedAt);
      expect(elapsedServerMs).toBeGreaterThanOrEqual(5 * 3600_000);
      // Channels are told in the background (faults-v1): the last update may come just after the job ended.
      await eventually(() => rec.events.length >= 3, 'the channel to hear of the timeout');
      expect(rec.events.map((e) => [e.event, e.status, e.groups.join(',')])).toEqual([
        ['requested', 'pending', 'sre'],
        ['escalated', 'pending', 'sre-leads'],
        ['update', 'timed_out', 'sre-leads'],
      ]);
      console.log(`5h of approval timeouts took ${Date.now() - started} ms of real time`);
    });
    expect(gitOk(repo, 'rev-parse', '--verify', 'refs/heads/rel')).toBe(false);
  } finally {
    cleanup();
  }
});
