/**
 * Airlock on a real Temporal server with PostgreSQL persistence and SQL visibility (the production setup, one node):
 * a saga that compensates, an approval with quorum, a freeze, listing by Airlock's search attributes, and replaying
 * a job's history fetched from the cluster.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { builtinRegistry } from '../../activities';
import { JobFrozenError } from '../../src/freeze';
import { listJobs } from '../../src/jobs/read';
import { submitJob } from '../../src/jobs/submit';
import { jobStateQuery } from '../../workflows/messages';
import { attestationKeys } from '../helpers/attestation';
import { pendingRequest, vote, waitForState } from '../helpers/approvals';
import { gitOut, makeRepo } from '../helpers/git';
import { fixture, testWorker, uniqueId, workflowBundle } from '../helpers/temporal';
import { eventually } from '../helpers/wait';
import { useCluster } from './cluster';

const cluster = useCluster();
const registry = builtinRegistry();
let repo: string;
let cleanup: () => void;
beforeEach(() => {
  ({ repo, cleanup } = makeRepo());
});
afterEach(() => cleanup?.());

const shipJob = (r: string, agent: string, last: object) => ({
  agent,
  title: 'Ship 1.2.3',
  steps: [
    { id: 'branch', action: 'git.create_branch', input: { repo: r, branch: 'rel', from: 'main' } },
    {
      id: 'bump',
      action: 'git.commit',
      input: { repo: r, branch: 'rel', message: 'Bump', files: [{ path: 'VERSION', content: '1.2.3\n' }] },
    },
    last,
  ],
});

test('a failing step compensates the earlier ones in reverse, and its history replays from the cluster', async () => {
  const { worker, taskQueue } = await testWorker(cluster.env);
  const failing = { id: 'check', action: 'shell.run', input: { argv: ['sh', '-c', 'exit 3'], cwd: '/tmp' } };
  const before = gitOut(repo, 'rev-parse', 'main');
  const handle = await worker.runUntil(async () => {
    const { handle } = await submitJob(cluster.env.client, shipJob(repo, uniqueId('agent'), failing), {
      registry,
      taskQueue,
      requester: 'tester',
      jobId: uniqueId('job'),
    });
    expect(await handle.result().catch((e: unknown) => e)).toBeInstanceOf(WorkflowFailedError);
    const state = await handle.query(jobStateQuery);
    expect(state.status).toBe('failed');
    expect(state.compensated).toEqual(['bump', 'branch']);
    return handle;
  });
  expect(gitOut(repo, 'rev-parse', 'main')).toBe(before);
  expect(gitOut(repo, 'branch', '--list', 'rel')).toBe('');

  // The history as the cluster stored it in PostgreSQL replays against today's workflow code.
  const history = await handle.fetchHistory();
  const scheduled = history
    .events!.filter((e) => e.activityTaskScheduledEventAttributes)
    .map((e) => e.activityTaskScheduledEventAttributes!.activityType!.name);
  expect(scheduled).toEqual([
    'git.create_branch',
    'git.commit',
    'shell.run',
    'git.commit.compensate',
    'git.create_branch.compensate',
  ]);
  await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, handle.workflowId);
});

test('a merge that needs two SREs waits for both votes, then acts', async () => {
  const { worker, taskQueue } = await testWorker(cluster.env, { policy: fixture('policy-approvals.yaml') });
  const merge = { id: 'merge', action: 'git.merge', input: { repo, source: 'rel', target: 'main' } };
  await worker.runUntil(async () => {
    const { handle } = await submitJob(cluster.env.client, shipJob(repo, uniqueId('agent'), merge), {
      registry,
      taskQueue,
      requester: 'erin',
      jobId: uniqueId('job'),
      attestationKeys,
    });
    const request = await pendingRequest(handle);
    expect(request).toMatchObject({ action: 'git.merge', groups: ['sre'], quorum: 2 });
    expect(await vote(cluster.env.client, 'alice', request.id, 'approve')).toMatchObject({ status: 'pending' });
    expect(await vote(cluster.env.client, 'bob', request.id, 'approve')).toMatchObject({ status: 'approved' });
    expect((await handle.result()).status).toBe('succeeded');
  });
  expect(gitOut(repo, 'show', 'main:VERSION')).toBe('1.2.3');
});

test('a freeze pauses a running job before its next action and refuses new jobs; unfreeze resumes it', async () => {
  const { worker, taskQueue, freeze } = await testWorker(cluster.env);
  const agent = uniqueId('agent');
  const gate = join(mkdtempSync(join(tmpdir(), 'airlock-gate-')), 'open');
  const wait = {
    id: 'wait',
    action: 'shell.run',
    input: { argv: ['sh', '-c', `while [ ! -e ${gate} ]; do sleep 0.1; done`], cwd: '/tmp' },
  };
  const job = {
    agent,
    title: 'Slow',
    steps: [wait, { id: 'branch', action: 'git.create_branch', input: { repo, branch: 'slow' } }],
  };
  await worker.runUntil(async () => {
    const opts = { registry, taskQueue, requester: 'erin', freeze };
    const { handle } = await submitJob(cluster.env.client, job, { ...opts, jobId: uniqueId('job') });
    await waitForState(handle, (s) => s.steps[0].status === 'running');
    const { signalled } = await freeze.freeze({ agent, mode: 'pause', reason: 'INC-9', by: 'carol', at: '' });
    expect(signalled).toBe(1);
    writeFileSync(gate, '');
    const frozen = await waitForState(handle, (s) => s.status === 'frozen');
    expect(frozen.steps.map((s) => s.status)).toEqual(['succeeded', 'pending']);
    const refused = await submitJob(cluster.env.client, job, { ...opts, jobId: uniqueId('job') }).catch(
      (e: unknown) => e,
    );
    expect(refused).toBeInstanceOf(JobFrozenError);
    await freeze.unfreeze(agent);
    expect((await handle.result()).status).toBe('succeeded');
  });
});

test("jobs are listed from the cluster's SQL visibility by AirlockStatus and AirlockAgent", async () => {
  const { worker, taskQueue } = await testWorker(cluster.env, { policy: fixture('policy-approvals.yaml') });
  const agent = uniqueId('agent');
  const merge = { id: 'merge', action: 'git.merge', input: { repo, source: 'rel', target: 'main' } };
  const ids = (filter: { status?: string; agent: string }) =>
    eventually(
      async () => {
        const found: string[] = [];
        for await (const job of listJobs(cluster.env.client, filter)) found.push(`${job.id} ${job.status}`);
        return found.length > 0 && found;
      },
      `jobs ${JSON.stringify(filter)}`,
    );
  await worker.runUntil(async () => {
    const opts = { registry, taskQueue, requester: 'erin' };
    const done = await submitJob(
      cluster.env.client,
      { agent, title: 'one step', steps: [{ id: 'b', action: 'git.create_branch', input: { repo, branch: 'x' } }] },
      { ...opts, jobId: uniqueId('job') },
    );
    await done.handle.result();
    const waiting = await submitJob(cluster.env.client, shipJob(repo, agent, merge), {
      ...opts,
      jobId: uniqueId('job'),
    });
    await pendingRequest(waiting.handle);

    expect(await ids({ agent, status: 'succeeded' })).toEqual([`${done.jobId} succeeded`]);
    expect(await ids({ agent, status: 'awaiting_approval' })).toEqual([`${waiting.jobId} awaiting_approval`]);
    await waiting.handle.cancel();
    await waiting.handle.result().catch(() => undefined);
  });
});
