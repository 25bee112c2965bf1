/**
 * The examples in examples/, run on a throw-away bare repository. Shared by `npm run demo` and the script that
 * records the replay histories in test/histories/.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { ToolRegistry } from '../../activities/registry';
import { jobStateQuery } from '../../workflows/messages';
import type { JobState } from '../core/job';
import { projectRoot } from '../temporal/binaries';
import { readJobFile } from '../jobs/job-file';
import { submitJob } from '../jobs/submit';

export interface Example {
  file: string;
  /** What the example must end as, for the demo to pass. */
  expect: { status: JobState['status']; compensated: string[]; failedStep?: string };
}

export const EXAMPLES: Example[] = [
  { file: 'examples/ship-version-bump.json', expect: { status: 'succeeded', compensated: [] } },
  {
    file: 'examples/failing-release-check.json',
    expect: { status: 'failed', compensated: ['bump', 'branch'], failedStep: 'check' },
  },
];

/** A bare repository with `main` holding a README, and a scratch directory for commands. */
export function throwAwayRepo(): { repo: string; workdir: string } {
  const root = mkdtempSync(join(tmpdir(), 'airlock-demo-'));
  const repo = join(root, 'app.git');
  const seed = join(root, 'seed');
  const run = (cwd: string, ...args: string[]) =>
    execFileSync('git', args, {
      cwd,
      stdio: 'ignore',
      env: {
        ...process.env,
        GIT_AUTHOR_NAME: 'Demo',
        GIT_AUTHOR_EMAIL: 'demo@localhost',
        GIT_COMMITTER_NAME: 'Demo',
        GIT_COMMITTER_EMAIL: 'demo@localhost',
      },
    });
  run(root, 'init', '-q', '--bare', '-b', 'main', repo);
  run(root, 'init', '-q', '-b', 'main', seed);
  writeFileSync(join(seed, 'README.md'), '# app\n');
  writeFileSync(join(seed, 'VERSION'), '1.2.2\n');
  run(seed, 'add', '.');
  run(seed, 'commit', '-q', '-m', 'Initial commit');
  run(seed, 'push', '-q', repo, 'main');
  return { repo, workdir: root };
}

export interface ExampleRun {
  example: Example;
  jobId: string;
  handle: WorkflowHandle;
  state: JobState;
  ok: boolean;
}

export async function runExample(
  client: Client,
  opts: { registry: ToolRegistry; taskQueue: string; vars: Record<string, string>; jobId: string },
  example: Example,
): Promise<ExampleRun> {
  const job = readJobFile(join(projectRoot, example.file), opts.vars);
  const { handle, jobId } = await submitJob(client, job, {
    registry: opts.registry,
    taskQueue: opts.taskQueue,
    requester: 'demo',
    jobId: opts.jobId,
  });
  await handle.result().catch(() => undefined);
  const state = await handle.query(jobStateQuery);
  const failed = state.steps.find((s) => s.status === 'failed')?.id;
  const ok =
    state.status === example.expect.status &&
    JSON.stringify(state.compensated) === JSON.stringify(example.expect.compensated) &&
    failed === example.expect.failedStep;
  return { example, jobId, handle, state, ok };
}
