/**
 * The isolate execution limit as patched (patches/@temporalio+worker+*.patch): no watchdog thread per call into the
 * workflow VM (Node starts and joins one per call that has a timeout), one check per workflow thread instead. Healthy
 * workflows run as before; workflow code that never returns stops the worker loudly, with the limit named, instead of
 * holding its workflow thread forever.
 */
import { randomUUID } from 'node:crypto';
import { bundleWorkflowCode, Worker } from '@temporalio/worker';
import { fixture, useTemporalServer } from '../helpers/temporal';

const server = useTemporalServer();
const quiet = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, log() {} } as never;

test('workflow code that never returns stops the worker within the limit, naming it; workflows that return run as before', async () => {
  const workflowBundle = await bundleWorkflowCode({ workflowsPath: fixture('workflows/runaway.ts'), logger: quiet });
  const taskQueue = `watchdog-${randomUUID().slice(0, 8)}`;
  const worker = await Worker.create({
    connection: server.env.nativeConnection,
    taskQueue,
    workflowBundle,
  });
  const running = worker.run();
  const failed = running.then(
    () => undefined,
    (err: Error) => err,
  );
  const { client } = server.env;
  // Several tasks in a row: the watchdog counts silence while the thread has work, not time since the worker started.
  for (let i = 0; i < 3; i++) {
    await new Promise((r) => setTimeout(r, 2_000));
    expect(await client.workflow.execute('returns', { taskQueue, workflowId: `returns-${randomUUID()}` })).toBe(1);
  }
  const started = Date.now();
  await client.workflow.start('neverReturns', { taskQueue, workflowId: `loops-${randomUUID()}` });
  const err = await Promise.race([failed, new Promise<undefined>((r) => setTimeout(() => r(undefined), 20_000))]);
  if (!err) {
    // Old behaviour: the task fails and is retried; the worker goes on. Stop it for the next test.
    worker.shutdown();
    await running.catch(() => undefined);
  }
  expect(err?.message).toMatch(/isolateExecutionTimeout 5000 ms/);
  // The SDK's default limit (5 s; the worker sets none), checked every second.
  expect(Date.now() - started).toBeLessThan(15_000);
}, 60_000);
