import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WorkflowFailedError, WorkflowNotFoundError } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure } from '@temporalio/common';
import { builtinRegistry } from '../../activities';
import { JobValidationError } from '../../src/jobs/plan';
import { jobsQuery } from '../../src/core/jobs-query';
import { submitJob } from '../../src/jobs/submit';
import { waitForState } from '../helpers/approvals';
import { eventually } from '../helpers/wait';
import { jobStateQuery } from '../../workflows/messages';
import { gitOk, gitOut, makeRepo, subjects } from '../helpers/git';
import { testWorker, uniqueId, useTemporalServer } from '../helpers/temporal';

const temporal = useTemporalServer();

const registry = builtinRegistry();
let repo: string;
let cleanup: () => void;
beforeEach(() => {
  ({ repo, cleanup } = makeRepo());
});
afterEach(() => cleanup?.());

const branchCommitMerge = (repoPath: string, extra: object[] = []) => ({
  agent: 'release-bot',
  title: 'Bump version',
  context: { ticket: 'OPS-1' },
  steps: [
    { id: 'branch', action: 'git.create_branch', input: { repo: repoPath, branch: 'bump', from: 'main' } },
    {
      id: 'commit',
      action: 'git.commit',
      input: {
        repo: repoPath,
        branch: { $ref: 'steps.branch.output.branch' },
        message: 'Bump version to 1.2.3',
        files: [{ path: 'VERSION', content: '1.2.3\n' }],
      },
    },
    ...extra,
  ],
});

test('a job runs its steps in order, resolves $refs, and reports state through the query', async () => {
  const { worker, taskQueue } = await testWorker(temporal.env);
  const job = branchCommitMerge(repo, [
    { id: 'merge', action: 'git.merge', input: { repo, source: 'bump', target: 'main' } },
  ]);
  await worker.runUntil(async () => {
    const { handle } = await submitJob(temporal.env.client, job, {
      registry,
      taskQueue,
      requester: 'tester',
      jobId: uniqueId('job'),
    });
    const result = await handle.result();
    expect(result.status).toBe('succeeded');
    expect(Object.keys(result.outputs)).toEqual(['branch', 'commit', 'merge']);
    const state = await handle.query(jobStateQuery);
    expect(state.status).toBe('succeeded');
    expect(state.steps.map((s) => [s.id, s.status])).toEqual([
      ['branch', 'succeeded'],
      ['commit', 'succeeded'],
      ['merge', 'succeeded'],
    ]);
    // The $ref was resolved before the commit ran.
    expect(state.steps[1].input?.branch).toBe('bump');
  });
  expect(gitOut(repo, 'show', 'main:VERSION')).toBe('1.2.3');
  expect(subjects(repo, 'main')[0]).toBe("Merge branch 'bump' into main");
});

test('a failing third step compensates steps 2 and 1 in reverse and fails with the whole chain', async () => {
  const { worker, taskQueue } = await testWorker(temporal.env);
  const job = branchCommitMerge(repo, [
    {
      id: 'check',
      action: 'shell.run',
      input: { argv: ['sh', '-c', 'echo "1 test failed" >&2; exit 3'], cwd: '/tmp' },
    },
  ]);
  const before = gitOut(repo, 'rev-parse', 'main');
  await worker.runUntil(async () => {
    const { handle } = await submitJob(temporal.env.client, job, {
      registry,
      taskQueue,
      requester: 'tester',
      jobId: uniqueId('job'),
    });
    const err = await handle.result().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const activityFailure = (err as WorkflowFailedError).cause;
    expect(activityFailure).toBeInstanceOf(ActivityFailure);
    expect((activityFailure as ActivityFailure).activityType).toBe('shell.run');
    const appFailure = (activityFailure as ActivityFailure).cause;
    expect(appFailure).toBeInstanceOf(ApplicationFailure);
    expect((appFailure as ApplicationFailure).type).toBe('CommandFailed');
    expect((appFailure as ApplicationFailure).message).toContain('exited 3: 1 test failed');

    const state = await handle.query(jobStateQuery);
    expect(state.status).toBe('failed');
    expect(state.compensated).toEqual(['commit', 'branch']);
    expect(state.steps.map((s) => s.status)).toEqual(['compensated', 'compensated', 'failed']);
    const { events } = await handle.fetchHistory();
    const scheduled = events!
      .filter((e) => e.activityTaskScheduledEventAttributes)
      .map((e) => e.activityTaskScheduledEventAttributes!.activityType!.name);
    expect(scheduled).toEqual([
      'git.create_branch',
      'git.commit',
      'shell.run',
      'git.commit.compensate',
      'git.create_branch.compensate',
    ]);
  });
  expect(gitOk(repo, 'rev-parse', '--verify', 'refs/heads/bump')).toBe(false);
  expect(gitOut(repo, 'rev-parse', 'main')).toBe(before);
});

test('a compensation that cannot undo leaves the job in compensation_failed', async () => {
  const { worker, taskQueue } = await testWorker(temporal.env);
  // Someone else commits over the same file between our commit and the failure, so the revert conflicts.
  const outsider = `git -C ${repo} update-ref refs/heads/bump $(git -C ${repo} commit-tree -p bump -m outsider $(printf '9.9.9\\n' | git -C ${repo} hash-object -w --stdin | xargs -I{} sh -c 'git -C ${repo} read-tree bump && git -C ${repo} update-index --cacheinfo 100644,{},VERSION && git -C ${repo} write-tree'))`;
  const job = branchCommitMerge(repo, [
    {
      id: 'outsider',
      action: 'shell.run',
      input: { argv: ['sh', '-c', outsider], cwd: '/tmp', env: { GIT_INDEX_FILE: `${repo}/tmp-index` } },
    },
    { id: 'fail', action: 'shell.run', input: { argv: ['false'], cwd: '/tmp' } },
  ]);
  await worker.runUntil(async () => {
    const { handle } = await submitJob(temporal.env.client, job, {
      registry,
      taskQueue,
      requester: 'tester',
      jobId: uniqueId('job'),
    });
    const err = (await handle.result().catch((e: unknown) => e)) as WorkflowFailedError;
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const failure = err.cause as ApplicationFailure;
    expect(failure).toBeInstanceOf(ApplicationFailure);
    expect(failure.type).toBe('CompensationFailed');
    expect(failure.message).toContain('compensation of commit failed');
    const cause = failure.cause as ActivityFailure;
    expect(cause).toBeInstanceOf(ActivityFailure);
    expect((cause.cause as ApplicationFailure).type).toBe('GitConflict');

    const state = await handle.query(jobStateQuery);
    expect(state.status).toBe('compensation_failed');
    expect(state.steps.find((s) => s.id === 'commit')?.status).toBe('compensation_failed');
    // The branch compensation still ran after the commit's failed.
    expect(state.compensated).toEqual(['branch']);
  });
});

test('cancelling a job kills the running command and compensates what was done', async () => {
  const { worker, taskQueue } = await testWorker(temporal.env);
  const pidFile = `${repo}.pid`;
  const job = {
    agent: 'release-bot',
    title: 'Long check',
    steps: [
      { id: 'branch', action: 'git.create_branch', input: { repo, branch: 'long', from: 'main' } },
      // The command records its pid, then becomes `sleep`: the pid must be dead after the cancel.
      {
        id: 'wait',
        action: 'shell.run',
        input: { argv: ['sh', '-c', `echo $$ > ${pidFile}; exec sleep 60`], cwd: '/tmp' },
      },
    ],
  };
  await worker.runUntil(async () => {
    const { handle } = await submitJob(temporal.env.client, job, {
      registry,
      taskQueue,
      requester: 'tester',
      jobId: uniqueId('job'),
    });
    await waitForState(handle, (s) => s.steps[1].status === 'running');
    await handle.cancel();
    const err = (await handle.result().catch((e: unknown) => e)) as WorkflowFailedError;
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const state = await handle.query(jobStateQuery);
    expect(state.status).toBe('cancelled');
    expect(state.compensated).toEqual(['branch']);
    const desc = await handle.describe();
    expect(desc.status.name).toBe('CANCELLED');
  });
  expect(gitOk(repo, 'rev-parse', '--verify', 'refs/heads/long')).toBe(false);
  const pid = Number(readFileSync(pidFile, 'utf8'));
  expect(pid).toBeGreaterThan(0);
  expect(() => process.kill(pid, 0)).toThrow(/ESRCH/);
});

test('jobs are listed from Temporal visibility by status and agent', async () => {
  const { worker, taskQueue } = await testWorker(temporal.env);
  const agent = uniqueId('agent');
  await worker.runUntil(async () => {
    const { handle, jobId } = await submitJob(
      temporal.env.client,
      { agent, title: 'noop', steps: [{ id: 'b', action: 'git.create_branch', input: { repo, branch: 'x' } }] },
      { registry, taskQueue, requester: 'tester', jobId: uniqueId('job') },
    );
    await handle.result();
    // Visibility is eventually consistent.
    const ids = await eventually(async () => {
      const found: string[] = [];
      for await (const wf of temporal.env.client.workflow.list({
        query: jobsQuery({ agent, status: 'succeeded' }),
      })) {
        found.push(wf.workflowId);
      }
      return found.length > 0 && found;
    }, 'the job to be listed');
    expect(ids).toEqual([jobId]);
  });
});

test('a malformed job is refused with every problem named, and no workflow starts', async () => {
  const jobId = uniqueId('job');
  const err = await submitJob(
    temporal.env.client,
    {
      agent: 'release-bot',
      title: 'Broken',
      steps: [
        { id: 'a', action: 'git.create_branch', input: { repo, branch: 'x' } },
        { id: 'a', action: 'git.nuke', input: {} },
        {
          id: 'c',
          action: 'git.commit',
          input: { repo, branch: { $ref: 'steps.zz.output.branch' }, message: 7, files: [] },
        },
      ],
    },
    { registry, taskQueue: 'unused', requester: 'tester', jobId },
  ).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(JobValidationError);
  expect((err as JobValidationError).issues.map((i) => i.path)).toEqual([
    'steps.1.id',
    'steps.1.action',
    'steps.2.input.branch',
    'steps.2.input.message',
  ]);
  await expect(temporal.env.client.workflow.getHandle(jobId).describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
});

test("the policy's limits bind the action: maxRuntime stops each attempt, retries cap the attempts", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-limits-'));
  const policyFile = join(dir, 'policy.yaml');
  writeFileSync(
    policyFile,
    `version: 1
default: { decision: deny }
rules:
  - id: short-shell
    match: { action: shell.run }
    decision: allow
    limits: { maxRuntime: 300ms, retries: 1 }
`,
  );
  const { worker, taskQueue } = await testWorker(temporal.env, { policy: policyFile });
  const started = Date.now();
  const err = await worker.runUntil(async () => {
    const { handle } = await submitJob(
      temporal.env.client,
      {
        agent: 'release-bot',
        title: 'Sleep too long',
        steps: [{ id: 'nap', action: 'shell.run', input: { argv: ['sleep', '20'], cwd: '/tmp', idempotent: true } }],
      },
      { registry, taskQueue, requester: 'tester', jobId: uniqueId('job') },
    );
    return handle.result().then(
      () => undefined,
      (e: unknown) => ({ e, jobId: handle.workflowId }),
    );
  });
  expect(err).toBeDefined();
  expect(err!.e).toBeInstanceOf(WorkflowFailedError);
  const activityFailure = (err!.e as WorkflowFailedError).cause as ActivityFailure;
  expect(activityFailure.cause).toBeInstanceOf(ApplicationFailure);
  expect((activityFailure.cause as ApplicationFailure).type).toBe('MaxRuntimeExceeded');
  expect((activityFailure.cause as ApplicationFailure).message).toMatch(/attempt 2, the last of 2 the policy allows/);
  // Two attempts of ~300 ms each (and one retry backoff), not 20 s; an idempotent shell.run would get 3.
  expect(Date.now() - started).toBeLessThan(15_000);
  const failed = (await temporal.audit().events(err!.jobId))
    .filter((e) => e.type === 'action.failed')
    .map((e) => e.data.attempt);
  expect(failed).toEqual([1, 2]);
  rmSync(dir, { recursive: true, force: true });
});
