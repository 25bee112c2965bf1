/**
 * Fault suite: a worker that can keep only 2 workflows cached (maxCachedWorkflows: 2) while 20 jobs wait and are
 * approved concurrently: every workflow task for an evicted workflow replays its history first. Every job completes,
 * each with its one vote.
 */

import { builtinRegistry } from '../../activities';
import { submitJob } from '../../src/jobs/submit';
import { jobStateQuery } from '../../workflows/messages';
import { pendingRequest, vote } from '../helpers/approvals';
import { attestationKeys } from '../helpers/attestation';
import { makeRepo } from '../helpers/git';
import { testAirlock, uniqueId, useTemporalServer, workflowBundle } from '../helpers/temporal';
import { mergeJob, mergePolicy } from './helpers';

const N = 20;
const temporal = useTemporalServer();
const { policy } = mergePolicy('airlock-evict-', { allow: ['git.create_branch'] });

test(`workflow cache of 2 with ${N} concurrent approvals: all complete`, async () => {
  const airlock = await testAirlock(temporal.env, { policy });
  const worker = await airlock.worker({
    connection: temporal.env.nativeConnection,
    workflowBundle: await workflowBundle(),
    tuning: { maxCachedWorkflows: 2 },
  });
  const taskQueue = airlock.config.temporal.taskQueue;
  const repos = Array.from({ length: N }, () => makeRepo());
  try {
    await worker.runUntil(async () => {
      const handles = await Promise.all(
        repos.map(async ({ repo }, i) => {
          const { handle } = await submitJob(temporal.env.client, mergeJob(`Evicted ${i}`, repo, 'evict'), {
            registry: builtinRegistry(),
            taskQueue,
            requester: 'bob',
            attestationKeys,
            jobId: uniqueId('job'),
          });
          return handle;
        }),
      );
      const requests = await Promise.all(handles.map((h) => pendingRequest(h)));
      const started = performance.now();
      await Promise.all(requests.map((r) => vote(temporal.env.client, 'alice', r.id, 'approve')));
      const results = await Promise.all(handles.map((h) => h.result()));
      console.log(`${N} approvals with a cache of 2: all done in ${(performance.now() - started).toFixed(0)} ms`);
      expect(results.map((r) => r.status)).toEqual(Array(N).fill('succeeded'));
      for (const h of handles)
        expect((await h.query(jobStateQuery)).approvals[0].votes.map((v) => v.approver)).toEqual(['alice']);
    });
  } finally {
    for (const r of repos) r.cleanup();
  }
});
