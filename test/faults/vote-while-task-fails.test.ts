/**
 * Fault suite: a vote that arrives while the job's workflow task keeps failing. The server refuses queries and updates
 * to such a job (FAILED_PRECONDITION, "Workflow Task in failed state") until a worker completes the task again; it
 * happens after a worker is SIGKILLed with tasks in hand, or when a loaded worker lets tasks time out (seen at 100
 * jobs in approvals-worker-kill). The vote must wait for the job, and be applied once when it recovers.
 */

import { Worker } from '@temporalio/worker';
import { builtinRegistry } from '../../activities';
import { AuditEventType } from '../../src/core/audit';
import { submitJob } from '../../src/jobs/submit';
import { isRefusedForNow } from '../../approvals/deliver';
import { decideUpdate, jobStateQuery, unfreezeSignal } from '../../workflows/messages';
import { pendingRequest, vote } from '../helpers/approvals';
import { attestationKeys } from '../helpers/attestation';
import { gitOut, makeRepo } from '../helpers/git';
import { testWorker, uniqueId, useTemporalServer, workflowBundle } from '../helpers/temporal';
import { eventually } from '../helpers/wait';
import { mergeJob, mergePolicy } from './helpers';

const temporal = useTemporalServer();
const { policy } = mergePolicy('airlock-failing-task-', { allow: ['git.create_branch', 'git.commit'] });

test('a vote sent while the job’s workflow task keeps failing is applied once, when a worker runs the task again', async () => {
  const { repo, cleanup } = makeRepo();
  const taskQueue = uniqueId('failing');
  try {
    const first = await testWorker(temporal.env, { policy, taskQueue });
    const { handle, request } = await first.worker.runUntil(async () => {
      const { handle } = await submitJob(
        temporal.env.client,
        mergeJob('Merge while failing', repo, 'topic', {
          from: 'main',
          commit: { message: 'Topic', path: 'TOPIC.md', content: 'once\n' },
        }),
        { registry: builtinRegistry(), taskQueue, requester: 'bob', attestationKeys, jobId: uniqueId('job') },
      );
      return { handle, request: await pendingRequest(handle) };
    });

    // A worker that fails every workflow task it is given (it cannot decode the job's payloads), as a worker does
    // whose tasks keep failing: a signal gives it one, and the server retries it until the attempts say "failing".
    const failing = await Worker.create({
      connection: temporal.env.nativeConnection,
      taskQueue,
      workflowBundle: await workflowBundle(),
      dataConverter: {
        payloadCodecs: [
          {
            encode: async (payloads) => payloads,
            decode: async () => {
              throw new Error('this worker cannot read the job');
            },
          },
        ],
      },
    });
    let voted: Promise<unknown> | undefined;
    await failing.runUntil(async () => {
      await handle.signal(unfreezeSignal, { agent: 'nobody' });
      await eventually(
        async () => ((await handle.describe()).raw.pendingWorkflowTask?.attempt ?? 0) >= 3,
        'the workflow task to be failing (attempt 3)',
      );
      // What the server answers now, to a query and to an update: not ready (nothing applied; ask again).
      expect(isRefusedForNow(await handle.query(jobStateQuery).catch((e: unknown) => e))).toBe(true);
      const update = handle.executeUpdate(decideUpdate, { args: [{ requestId: request.id } as never] });
      expect(isRefusedForNow(await update.catch((e: unknown) => e))).toBe(true);
      voted = vote(temporal.env.client, 'alice', request.id, 'approve');
      voted.catch(() => undefined); // awaited below
      // The vote is offered while the task still fails.
      await new Promise((r) => setTimeout(r, 2_000));
      expect((await handle.describe()).raw.pendingWorkflowTask?.attempt).toBeGreaterThanOrEqual(3);
    });

    // A healthy worker: the task completes, the vote is applied, the job merges.
    const healthy = await testWorker(temporal.env, { policy, taskQueue });
    await healthy.worker.runUntil(async () => {
      await expect(voted).resolves.toMatchObject({ requestId: request.id, status: 'approved', approvals: 1 });
      await expect(handle.result()).resolves.toMatchObject({ status: 'succeeded' });
      const state = await handle.query(jobStateQuery);
      expect(state.approvals.map((a) => a.votes.map((v) => v.approver))).toEqual([['alice']]);
    });
    const events = await temporal.audit().events(handle.workflowId);
    expect(events.filter((e) => e.type === AuditEventType.ApprovalVote).map((e) => e.actor)).toEqual(['alice']);
    // One merge commit on main, of the topic branch.
    const merges = gitOut(repo, 'rev-list', '--merges', 'main').split('\n');
    expect(merges).toHaveLength(1);
    expect(gitOut(repo, 'rev-parse', `${merges[0]}^2`)).toBe(gitOut(repo, 'rev-parse', 'topic'));
  } finally {
    cleanup();
  }
});
