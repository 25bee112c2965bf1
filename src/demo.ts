/**
 * `npm run demo`: starts the embedded stack, runs the examples on a throw-away repository, prints each job's
 * timeline, and exits 0 only when every job ended as expected.
 */
import { randomUUID } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { loadConfig } from './config';
import { EXAMPLES, runExample, throwAwayRepo } from './dev/examples';
import { startStack } from './dev/stack';
import { formatTimeline } from './jobs/timeline';
import { createLogger, installTemporalLogger } from './logger';

async function main() {
  const config = loadConfig({
    ...process.env,
    AIRLOCK_TASK_QUEUE: `demo-${randomUUID().slice(0, 8)}`,
    AIRLOCK_DATABASE_URL: process.env.AIRLOCK_DATABASE_URL ?? 'memory:',
  });
  installTemporalLogger(createLogger('error'), 'error');
  console.log('Starting the embedded stack (Temporal dev server + worker)…');
  const stack = await startStack({ config, persistent: false });
  let allOk = true;
  try {
    const vars = throwAwayRepo();
    console.log(`Temporal at ${stack.address}; throw-away repository ${vars.repo}\n`);
    for (const example of EXAMPLES) {
      const run = await runExample(
        stack.client,
        { registry: stack.registry, taskQueue: stack.taskQueue, vars, jobId: `demo-${randomUUID().slice(0, 8)}` },
        example,
      );
      console.log(`${example.file}`);
      console.log(formatTimeline(run.state));
      console.log(
        `  expected ${example.expect.status}${example.expect.compensated.length ? `, undo ${example.expect.compensated.join(' → ')}` : ''}: ${run.ok ? 'OK' : 'MISMATCH'}\n`,
      );
      allOk &&= run.ok;
    }
    console.log('main after both jobs:');
    console.log(
      execFileSync('git', ['--git-dir', vars.repo, 'log', '--graph', '--format=%h %s', 'main'], { encoding: 'utf8' }),
    );
    console.log(
      `branches left: ${execFileSync('git', ['--git-dir', vars.repo, 'branch', '--format=%(refname:short)'], { encoding: 'utf8' }).trim().split('\n').join(', ')}`,
    );
  } finally {
    await stack.stop();
  }
  console.log(allOk ? '\ndemo: every job ended as expected' : '\ndemo: FAILED — a job did not end as expected');
  process.exit(allOk ? 0 : 1);
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
