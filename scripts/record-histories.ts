/**
 * Records the histories of the example jobs into test/histories/<example>.<tag>.json, for the replay test. Add a
 * tag when a `patched()` change makes new jobs run differently; keep the older recordings, since jobs started
 * before the change are still running somewhere:
 *   npm run record-histories -- <tag>
 */
import { writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { loadConfig } from '../src/config';
import { EXAMPLES, runExample, throwAwayRepo } from '../src/dev/examples';
import { startStack } from '../src/dev/stack';
import { projectRoot } from '../src/temporal/binaries';

async function main() {
  const tag = process.argv[2];
  if (!tag || !/^[a-z0-9-]+$/.test(tag))
    throw new Error('usage: npm run record-histories -- <tag> (e.g. the patch id)');
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
      const out = join(projectRoot, 'test', 'histories', `${name}.${tag}.json`);
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
