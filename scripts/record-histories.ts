/**
 * Records the histories of the example jobs into test/histories/<example>.<tag>.json, for the replay test. Add a
 * tag when a `patched()` change makes new jobs run differently; keep the older recordings, since jobs started
 * before the change are still running somewhere. The approval paths are recorded by
 * scripts/record-approval-histories.ts (run both):
 *   npm run record-histories -- <tag>
 */
import { basename } from 'node:path';
import { loadConfig } from '../src/config';
import { EXAMPLES, runExample, throwAwayRepo } from '../src/dev/examples';
import { startStack } from '../src/dev/stack';
import { historyJobId, recordingTag, saveHistory } from './histories';

async function main() {
  const tag = recordingTag('npm run record-histories -- <tag> (e.g. the patch id)');
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
        { registry: stack.registry, taskQueue: stack.taskQueue, vars, jobId: historyJobId(name) },
        example,
      );
      if (!run.ok) throw new Error(`${example.file} ended as ${run.state.status}; not recording`);
      const { out, events } = await saveHistory(run.handle, name, tag);
      console.log(`recorded ${out} (${events} events)`);
    }
  } finally {
    await stack.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
