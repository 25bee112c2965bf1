/**
 * `airlock replay` on a real dev server: a job's history, fetched and saved as a fixture, replays on this code; a
 * deliberately non-deterministic copy of the job workflow is caught, by the command and by the CI replay test's
 * mechanism on the saved file, with the step it diverges at named.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeterminismViolationError } from '@temporalio/workflow';
import { Worker } from '@temporalio/worker';
import { builtinRegistry } from '../../activities';
import { submitJob } from '../../src/jobs/submit';
import { bundleWorkflows, savedHistoryFile, type ReplayOutcome } from '../../src/operations/replay';
import { runCli } from '../helpers/cli';
import { bumpVersionJob, makeRepo } from '../helpers/git';
import { modifiedWorkflows, replayIdOf } from '../helpers/histories';
import { testWorker, uniqueId, useTemporalServer, workflowBundle } from '../helpers/temporal';

const temporal = useTemporalServer();

const LOOP = '    for (const [index, step] of input.steps.entries()) {';
const EXTRA_ACTIVITY = "await tools({ startToCloseTimeoutMs: 1000, maximumAttempts: 1 })['shell.run']({} as never);";
/** The job workflow reaches tools through context.ts's proxy; the edits import it where they add a call. */
const IMPORT = 'openTrail, type JobContext';
const withTools: [string, string] = [IMPORT, 'openTrail, tools, type JobContext'];
/** An activity added before the first step. */
const beforeFirstStep = () => modifiedWorkflows('job.ts', [withTools, [LOOP, `    ${EXTRA_ACTIVITY}\n${LOOP}`]]);
/** An activity added before the second step (`commit`). */
const beforeSecondStep = () =>
  modifiedWorkflows('job.ts', [withTools, [LOOP, `${LOOP}\n      if (index === 1) ${EXTRA_ACTIVITY}`]]);

let repo: string;
let cleanup: () => void;
let saveDir: string;
let jobId: string;

beforeAll(async () => {
  ({ repo, cleanup } = makeRepo());
  saveDir = mkdtempSync(join(tmpdir(), 'airlock-saved-'));
  const { worker, taskQueue } = await testWorker(temporal.env);
  jobId = uniqueId('job');
  await worker.runUntil(async () => {
    const { handle } = await submitJob(temporal.env.client, bumpVersionJob(repo), {
      registry: builtinRegistry(),
      taskQueue,
      requester: 'tester',
      jobId,
    });
    await handle.result();
  });
});
afterAll(() => {
  cleanup?.();
  rmSync(saveDir, { recursive: true, force: true });
});

test('replay <jobId> --save: the history replays ok on this checkout and is saved as a fixture', async () => {
  const run = await runCli(temporal.env, ['replay', jobId, '--save', saveDir, '--json']);
  expect(run.exitCode).toBe(0);
  expect(JSON.parse(run.stdout)).toEqual({ ok: true, jobs: [{ jobId, ok: true }] });
  expect(readdirSync(saveDir)).toEqual([savedHistoryFile(jobId)]);
  // The replay test's mechanism on the saved file, with today's code: it replays.
  const file = savedHistoryFile(jobId);
  await Worker.runReplayHistory(
    { workflowBundle: await workflowBundle() },
    JSON.parse(readFileSync(join(saveDir, file), 'utf8')),
    replayIdOf(file),
  );
});

test.each([
  ['an activity added before the first step', 'branch', beforeFirstStep],
  ['an activity added before the second step', 'commit', beforeSecondStep],
])('%s: the replay command names step %s; the CI replay test fails on it', async (_what, step, modify) => {
  const changed = modify();
  try {
    const run = await runCli(temporal.env, ['replay', jobId, '--workflows', changed.workflowsPath, '--json']);
    expect(run.exitCode).toBe(1);
    const report = JSON.parse(run.stdout) as { ok: boolean; jobs: ReplayOutcome[] };
    expect(report.ok).toBe(false);
    const [outcome] = report.jobs;
    expect(outcome).toMatchObject({ jobId, ok: false, divergence: { stepId: step } });
    // In words: history's activity for the step, and what the code schedules instead.
    const action = step === 'branch' ? 'git.create_branch' : 'git.commit';
    expect(outcome.divergence!.history).toContain(`activity ${action} for step ${step}`);
    expect(outcome.divergence!.code).toBe(`schedules activity shell.run where history has ${action}`);

    const human = await runCli(temporal.env, ['replay', jobId, '--workflows', changed.workflowsPath]);
    expect(human.exitCode).toBe(1);
    expect(human.stdout).toContain(`${jobId}: DIVERGES at step ${step}`);

    // The CI replay test (test/workflows/replay.test.ts) reads every file of its directory the same way.
    const bundle = await bundleWorkflows(changed.workflowsPath);
    for (const file of readdirSync(saveDir)) {
      await expect(
        Worker.runReplayHistory(
          { workflowBundle: bundle },
          JSON.parse(readFileSync(join(saveDir, file), 'utf8')),
          replayIdOf(file),
        ),
      ).rejects.toBeInstanceOf(DeterminismViolationError);
    }
  } finally {
    changed.cleanup();
  }
});

test('replay --query lists the jobs to replay from visibility', async () => {
  const run = await runCli(temporal.env, ['replay', '--query', `WorkflowId = '${jobId}'`, '--json']);
  expect(run.exitCode).toBe(0);
  expect(JSON.parse(run.stdout).jobs).toEqual([{ jobId, ok: true }]);
});
