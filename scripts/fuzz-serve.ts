/**
 * The API under fuzzing (scripts/fuzz-api.sh): the embedded stack (an in-memory Temporal dev server, a worker, the
 * audit store in memory) and the API on a free port, with the dev people file (config/people.yaml). Prints
 * `api listening on <url>` and runs until SIGTERM/SIGINT.
 */
import { join } from 'node:path';
import { loadConfig } from '../src/config';
import { startStack } from '../src/dev/stack';

async function main() {
  const config = loadConfig({
    ...process.env,
    AIRLOCK_TASK_QUEUE: 'fuzz',
    AIRLOCK_DATABASE_URL: 'memory:',
    AIRLOCK_POLICY_FILE: join(__dirname, 'fuzz-policy.yaml'),
    AIRLOCK_API_PORT: '0',
    AIRLOCK_RATE_LIMIT_PER_MINUTE: '1000000',
    AIRLOCK_LOG_LEVEL: process.env.AIRLOCK_LOG_LEVEL ?? 'error',
  });
  const stack = await startStack({ config, persistent: false });
  const api = await stack.airlock.serve();
  console.log(`api listening on ${api.url}`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await api.close();
  await stack.stop();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
