/**
 * Records the histories of the example jobs into test/histories/, for the replay test. Re-record only on purpose:
 * a change that needs new histories is a change that would break running jobs (use `patched()` instead).
 *   npm run record-histories
 */
import { writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { loadConfig } from '../src/config';
import { EXAMPLES, runExample, throwAwayRepo } from '../src/dev/examples';
import { startStack } from '../src/dev/stack';
import { projectRoot } from '../src/temporal/binaries';

async function main() {
  const stack = await startStack({
    config: loadConfig({ ...process.env, AIRLOCK_TASK_QUEUE: 'record-histories', AIRLOCK_DATABASE_URL: 'memory:' }),
    persistent: false,
  });
  try {
    const vars = throwAwayRepo();
    for (const example of EXAMPLES) {
      const name = basename(example.file, '.json');
      const run = await runExample(
        stack.client,
        { registry: stack.registry, taskQueue: stack.taskQueue, vars, jobId: `history-${name}` },
        example,
      );
      if (!run.ok) throw new Error(`${example.file} ended as ${run.state.status}; not recording`);
      const history = await run.handle.fetchHistory();
      const out = join(projectRoot, 'test', 'histories', `${name}.json`);
      writeFileSync(out, `${JSON.stringify(JSON.parse(historyToJSON(history)), null, 1)}\n`);
      console.log(`recorded ${out} (${history.events?.length} events)`);
    }
  } finally {
    await stack.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
