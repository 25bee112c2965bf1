/**
 * Operators' repairs over the HTTP API, on a real dev server and PostgreSQL: retry (a new linked job that asks its
 * approvals again), reset (votes given to the old run do not count, no step acts twice), reset refused after a
 * compensation, compensate after the cause is fixed, resolve by hand.
 */
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Worker } from '@temporalio/worker';
import type { Airlock } from '../../src/compose';
import { operationsTrailId, repairTrailId } from '../../src/core/audit';
import { submitJob } from '../../src/jobs/submit';
import { countJobs, listJobs } from '../../src/jobs/read';
import { fetchHistoryJson, activitiesOf } from '../../src/operations/history';
import { attestationKeys } from '../helpers/attestation';
import { pendingRequest, recordingChannel, vote, waitForState } from '../helpers/approvals';
import { gitOut, makeRepo } from '../helpers/git';
import { fixture, testAirlock, uniqueId, useTemporalServer, workflowBundle } from '../helpers/temporal';
import { eventually } from '../helpers/wait';

const temporal = useTemporalServer();

let airlock: Airlock;
let worker: Worker;
let running: Promise<void>;
let api: Awaited<ReturnType<Airlock['api']>>;
let base: string;
let repo: string;
let cleanup: () => void;

beforeAll(async () => {
  ({ repo, cleanup } = makeRepo());
  airlock = await testAirlock(temporal.env, {
    policy: fixture('policy-approvals.yaml'),
    channels: [recordingChannel().channel],
    config: { AIRLOCK_PEOPLE_FILE: fixture('people-api.yaml'), AIRLOCK_RATE_LIMIT_PER_MINUTE: '100000' },
  });
  worker = await airlock.worker({ connection: temporal.env.nativeConnection, workflowBundle: await workflowBundle() });
  running = worker.run();
  api = await airlock.api();
  base = await api.listen({ host: '127.0.0.1', port: 0 });
});
afterAll(async () => {
  await api?.close();
  worker?.shutdown();
  await running;
  await airlock?.close();
  cleanup?.();
});

type Who = 'alice' | 'bob' | 'carol' | 'dave';
async function post(path: string, who: Who, body: object = {}) {
  const res = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${who}-test-token`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  return { status: res.status, body: (await res.json()) as any };
}
async function get(path: string, who: Who = 'alice') {
  const res = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${who}-test-token` } });
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  return { status: res.status, body: (await res.json()) as any };
}

async function submit(steps: object[]) {
  const jobId = uniqueId('job');
  const { handle } = await submitJob(
    airlock.client,
    { agent: 'release-bot', title: 'Operations test', context: {}, steps },
    {
      registry: airlock.registry,
      taskQueue: airlock.config.temporal.taskQueue,
      requester: 'ci',
      jobId,
      attestationKeys,
    },
  );
  return { jobId, handle };
}
const fail = (script = 'exit 3') => ({
  id: 'fail',
  action: 'shell.run',
  input: { argv: ['sh', '-c', `echo "1 test failed" >&2; ${script}`], cwd: '/tmp' },
});
/** Commits on `branch` made under this job step's idempotency key. */
const commitsOf = (branch: string, key: string) =>
  gitOut(repo, 'log', '--format=%H', `--grep=${key}`, branch).split('\n').filter(Boolean).length;

test('retry of a job that failed at step 3: a new linked job, its approval asked again saying why; both trails link', async () => {
  const branch = uniqueId('rt');
  const { jobId, handle } = await submit([
    { id: 'branch', action: 'git.create_branch', input: { repo, branch, from: 'main' } },
    { id: 'merge', action: 'git.merge', input: { repo, source: branch, target: 'main' } },
    fail(),
  ]);
  const first = await pendingRequest(handle);
  await vote(airlock.client, 'alice', first.id, 'approve');
  await vote(airlock.client, 'bob', first.id, 'approve');
  await waitForState(handle, (s) => s.status === 'failed');
  await handle.result().catch(() => undefined); // the state is set before the workflow closes: operations need it closed

  // Operators only.
  expect((await post(`/v1/jobs/${jobId}/retry`, 'dave', { dryRun: true })).status).toBe(403);
  const dry = await post(`/v1/jobs/${jobId}/retry`, 'alice', { dryRun: true });
  expect(dry.status).toBe(200);
  expect(dry.body.steps.map((s: { id: string; asksApproval: boolean }) => [s.id, s.asksApproval])).toEqual([
    ['branch', false],
    ['merge', true],
    ['fail', false],
  ]);
  expect(dry.body.policy).toEqual({
    original: [airlock.policy.current().hash],
    current: airlock.policy.current().hash,
    changed: false,
  });

  const res = await post(`/v1/jobs/${jobId}/retry`, 'alice', { reason: 'flaky test runner fixed' });
  expect(res.status).toBe(201);
  const retryId: string = res.body.retryJobId;
  expect(retryId).toBe(`${jobId}.retry-1`);
  const retry = airlock.client.workflow.getHandle(retryId);
  // Asked again: no vote of the original counts, and the request says it is a retry and why the original failed.
  const again = await pendingRequest(retry);
  expect(again.votes).toEqual([]);
  expect(again.retryOf).toMatchObject({ jobId, status: 'failed', by: 'alice', reason: 'flaky test runner fixed' });
  expect(again.retryOf!.error!.message).toContain('1 test failed');
  const state = await waitForState(retry, (s) => s.status === 'awaiting_approval');
  expect(state.requester).toBe('ci');
  expect(state.retryOf?.jobId).toBe(jobId);

  // Both trails show the link: the new job's opening event, the old job's operations trail.
  const submitted = (await temporal.audit().events(retryId)).find((e) => e.type === 'job.submitted')!;
  expect(submitted.data.retryOf).toMatchObject({ jobId, status: 'failed' });
  const retried = await temporal.audit().events(operationsTrailId(jobId));
  expect(retried).toMatchObject([{ type: 'job.retried', actor: 'alice', data: { jobId, retriedBy: retryId } }]);
  // Reading the old job finds its retry.
  await eventually(async () => (await get(`/v1/jobs/${jobId}`)).body.retriedBy?.includes(retryId), 'retriedBy');

  // A running job is not retried.
  expect((await post(`/v1/jobs/${retryId}/retry`, 'alice')).status).toBe(409);
  await retry.cancel();
});

test('reset of a job stuck at step 2 after a vote: the vote does not reach the new run, approval asked again, step 1 not repeated', async () => {
  const branch = uniqueId('rs');
  gitOut(repo, 'branch', branch, 'main');
  const { jobId, handle } = await submit([
    {
      id: 'change',
      action: 'git.commit',
      input: { repo, branch, message: 'Change', files: [{ path: `${branch}.txt`, content: 'x\n' }] },
    },
    { id: 'merge', action: 'git.merge', input: { repo, source: branch, target: 'main' } },
  ]);
  const before = await pendingRequest(handle);
  await vote(airlock.client, 'alice', before.id, 'approve'); // 1 of 2: stuck
  expect(commitsOf(branch, `${jobId}/change`)).toBe(1);

  expect((await post(`/v1/jobs/${jobId}/reset`, 'dave', { toStep: 'change' })).status).toBe(403);
  const dry = await post(`/v1/jobs/${jobId}/reset`, 'carol', { toStep: 'change', dryRun: true });
  expect(dry.body).toMatchObject({ toStep: 'change', kept: [], rerun: ['change', 'merge'], discardedVotes: 1 });
  const res = await post(`/v1/jobs/${jobId}/reset`, 'carol', { toStep: 'change', reason: 'stuck' });
  expect(res.status).toBe(200);
  expect(res.body.newRunId).toBeTruthy();

  const after = await eventually(async () => {
    const r = await pendingRequest(handle);
    return r.requestedAt !== before.requestedAt && r;
  }, 'the approval to be asked again');
  expect(after.votes).toEqual([]); // alice's vote was given to the old run
  // Step 1 ran again in the new run, under the same key: it found its commit instead of committing twice.
  const history = await fetchHistoryJson(airlock.client, jobId, res.body.newRunId);
  const commits = activitiesOf(history).filter((a) => a.type === 'git.commit' && a.outcome === 'completed');
  // The new run keeps history up to the point (before step change was scheduled) and ran the step again after it.
  expect(commits).toHaveLength(1);
  expect(commits[0].scheduledEventId).toBeGreaterThan(res.body.eventId);
  expect(commitsOf(branch, `${jobId}/change`)).toBe(1);

  await vote(airlock.client, 'alice', after.id, 'approve');
  await vote(airlock.client, 'bob', after.id, 'approve');
  await waitForState(handle, (s) => s.status === 'succeeded');
  await handle.result().catch(() => undefined); // the state is set before the workflow closes: operations need it closed
  expect(commitsOf(branch, `${jobId}/change`)).toBe(1);
  expect((await temporal.audit().events(jobId)).some((e) => e.type === 'job.reset' && e.actor === 'carol')).toBe(true);
});

test('a reset point that would keep a compensated step is refused, saying why', async () => {
  const branch = uniqueId('rc');
  const lock = join(repo, 'refs', 'heads', `${branch}.lock`);
  const { jobId, handle } = await submit([
    { id: 'branch', action: 'git.create_branch', input: { repo, branch, from: 'main' } },
    {
      id: 'change',
      action: 'git.commit',
      input: { repo, branch: 'main', message: 'Change main', files: [{ path: `${branch}.txt`, content: 'x\n' }] },
    },
    // Fails, and leaves the branch's ref locked: its compensation (deleting it) keeps failing and retrying.
    fail(`touch ${lock}; exit 3`),
  ]);
  try {
    // Change undone, and branch's undo under way (scheduled in the workflow task after change's undo completed).
    await eventually(async () => {
      const acts = activitiesOf(await fetchHistoryJson(airlock.client, jobId));
      return (
        acts.some((a) => a.type === 'git.commit.compensate' && a.outcome === 'completed') &&
        acts.some((a) => a.type === 'git.create_branch.compensate')
      );
    }, 'step change to be compensated and step branch being compensated');
    const res = await post(`/v1/jobs/${jobId}/reset`, 'alice', { toStep: 'fail' });
    expect(res.status).toBe(409);
    expect(res.body.error).toBe('compensated');
    expect(res.body.message).toContain(
      'step change acted before that point and was compensated: the new run would keep it as done while its change was undone',
    );
    expect(res.body.message).toContain('step branch acted before that point and is being compensated');
  } finally {
    if (existsSync(lock)) rmSync(lock);
    await handle.terminate('test over').catch(() => undefined);
  }
});

/** A job that ends compensation_failed: step `change`'s revert conflicts with a commit made on top of it. */
async function compensationFailedJob() {
  const branch = uniqueId('cf');
  gitOut(repo, 'branch', branch, 'main');
  const file = `${branch}.txt`;
  const outsider =
    `d=$(mktemp -d) && git clone -q -b ${branch} ${repo} $d && echo outsider > $d/${file} && ` +
    `git -C $d -c user.name=o -c user.email=o@localhost commit -qam outsider && git -C $d push -q origin ${branch}; ` +
    'rm -rf $d; exit 3';
  const { jobId, handle } = await submit([
    {
      id: 'change',
      action: 'git.commit',
      input: { repo, branch, message: 'Change', files: [{ path: file, content: 'x\n' }] },
    },
    fail(outsider),
  ]);
  await waitForState(handle, (s) => s.status === 'compensation_failed');
  await handle.result().catch(() => undefined); // the state is set before the workflow closes: operations need it closed
  return { jobId, branch, file };
}

test('compensation_failed → compensate while the cause persists → cause fixed → compensate → compensated', async () => {
  const { jobId, branch, file } = await compensationFailedJob();
  const failedBefore = await countJobs(airlock.client, 'compensation_failed');

  expect((await post(`/v1/jobs/${jobId}/compensate`, 'dave')).status).toBe(403);
  const still = await post(`/v1/jobs/${jobId}/compensate`, 'alice');
  expect(still.status).toBe(200);
  expect(still.body).toMatchObject({
    status: 'compensation_failed',
    steps: [{ stepId: 'change', status: 'compensation_failed' }],
  });
  expect(still.body.steps[0].error.message).toContain('conflicts');

  // The cause: the outsider's commit on top. Fixed by hand: the branch back to the job's commit.
  const ours = gitOut(repo, 'log', '--format=%H', '-n1', `--grep=${jobId}/change`, branch);
  gitOut(repo, 'update-ref', `refs/heads/${branch}`, ours);
  const fixed = await post(`/v1/jobs/${jobId}/compensate`, 'alice');
  expect(fixed.body).toMatchObject({
    status: 'compensated',
    steps: [{ stepId: 'change', status: 'compensated', by: 'alice' }],
  });
  expect(gitOk(branch, file)).toBe(false); // the change is undone: the file is gone again

  const view = await get(`/v1/jobs/${jobId}`);
  expect(view.body.status).toBe('compensated');
  expect(view.body.repair.history.map((h: { result: string }) => h.result)).toEqual([
    'compensation_failed',
    'compensated',
  ]);
  const trail = await temporal.audit().events(repairTrailId(jobId));
  expect(trail.map((e) => [e.type, e.actor])).toEqual([
    ['repair.started', 'alice'],
    ['repair.compensation_failed', 'alice'],
    ['repair.finished', 'alice'],
    ['repair.started', 'alice'],
    ['repair.compensated', 'alice'],
    ['repair.finished', 'alice'],
  ]);
  // No longer counted (nor listed) as compensation_failed: listed as compensated.
  await eventually(
    async () => (await countJobs(airlock.client, 'compensation_failed')) === failedBefore - 1,
    'the count',
  );
  const listed = async (status: string) => {
    const ids: string[] = [];
    for await (const j of listJobs(airlock.client, { status })) ids.push(j.id);
    return ids;
  };
  expect(await listed('compensation_failed')).not.toContain(jobId);
  expect(await listed('compensated')).toContain(jobId);
  // Nothing left to undo.
  expect((await post(`/v1/jobs/${jobId}/compensate`, 'alice')).status).toBe(409);
});

test('resolve records the operator and the note in the repair trail; the job ends resolved_by_hand', async () => {
  const { jobId } = await compensationFailedJob();
  expect((await post(`/v1/jobs/${jobId}/resolve`, 'dave', { step: 'change', note: 'x' })).status).toBe(403);
  const res = await post(`/v1/jobs/${jobId}/resolve`, 'carol', { step: 'change', note: 'reverted by hand in PR #12' });
  expect(res.status).toBe(200);
  expect(res.body).toMatchObject({
    status: 'resolved_by_hand',
    steps: [{ stepId: 'change', status: 'resolved_by_hand', by: 'carol', note: 'reverted by hand in PR #12' }],
  });
  const trail = await temporal.audit().events(repairTrailId(jobId));
  expect(trail.find((e) => e.type === 'repair.resolved_by_hand')).toMatchObject({
    actor: 'carol',
    data: { stepId: 'change', note: 'reverted by hand in PR #12' },
  });
  expect((await get(`/v1/jobs/${jobId}`)).body.status).toBe('resolved_by_hand');
});

function gitOk(branch: string, file: string): boolean {
  try {
    gitOut(repo, 'cat-file', '-e', `${branch}:${file}`);
    return true;
  } catch {
    return false;
  }
}
