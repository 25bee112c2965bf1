/**
 * The isolate execution limit as patched (patches/@temporalio+worker+*.patch): no watchdog thread per call into the
 * workflow VM (Node starts and joins one for every call that has a timeout), a check per task from the main thread
 * instead. Healthy workflows run as before, slow activations queued together included; workflow code that never
 * returns stops the worker loudly, naming the limit and the run, instead of holding its workflow thread forever.
 */
import { randomUUID } from 'node:crypto';
import { bundleWorkflowCode, Worker } from '@temporalio/worker';
import { fixture, useTemporalServer } from '../helpers/temporal';
import { spin } from '../fixtures/workflows/runaway';

const server = useTemporalServer();
const quiet = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, log() {} } as never;
/** The SDK's default isolateExecutionTimeout; Airlock's workers set none. */
const LIMIT_MS = 5_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('healthy workflows, slow activations queued together among them, run as before; one that never returns, among others, stops the worker within the limit, naming it and its run', async () => {
  const workflowBundle = await bundleWorkflowCode({ workflowsPath: fixture('workflows/runaway.ts'), logger: quiet });
  const taskQueue = `watchdog-${randomUUID().slice(0, 8)}`;
  const worker = await Worker.create({ connection: server.env.nativeConnection, taskQueue, workflowBundle });
  const running = worker.run();
  const failed = running.then(
    () => undefined,
    (err: Error) => err,
  );
  const { client } = server.env;
  const loopId = `loops-${randomUUID()}`;
  try {
    // Idle longer than the limit between tasks: silence counts only while the thread has work.
    for (let i = 0; i < 2; i++) {
      expect(await client.workflow.execute('returns', { taskQueue, workflowId: `returns-${randomUUID()}` })).toBe(1);
      await sleep(LIMIT_MS + 1_000);
    }
    // Activations of ~300 ms each at once: the thread runs what is queued before it answers any, so it is silent
    // for longer than the limit in all; each is well within it, as the limit was per call before.
    let iterations = 1_000_000;
    for (;;) {
      const t = performance.now();
      spin(iterations);
      const took = performance.now() - t;
      if (took >= 50) {
        iterations = Math.ceil((iterations * 300) / took);
        break;
      }
      iterations *= 2;
    }
    // Started at once, so they queue together (20 × 300 ms: longer than the limit, within a task's 10 s timeout).
    const count = 20;
    const busy = await Promise.all(
      Array.from({ length: count }, () =>
        client.workflow.start('busy', { taskQueue, workflowId: `busy-${randomUUID()}`, args: [iterations] }),
      ),
    );
    const results = await Promise.race([
      Promise.all(busy.map((h) => h.result())),
      // A worker stopped by a false alarm fails the test now, not at its timeout.
      failed.then((err) => Promise.reject(err ?? new Error('the worker stopped'))),
    ]);
    expect(results).toEqual(Array(count).fill(spin(iterations)));
    expect(worker.getState()).toBe('RUNNING');

    // The loop among other work, queued with it: the error names the loop's run, not a task waiting behind it.
    const started = Date.now();
    const [loop] = await Promise.all([
      client.workflow.start('neverReturns', { taskQueue, workflowId: loopId }),
      ...Array.from({ length: 3 }, () =>
        client.workflow.start('busy', { taskQueue, workflowId: `busy-${randomUUID()}`, args: [iterations] }),
      ),
    ]);
    const err = await Promise.race([failed, sleep(4 * LIMIT_MS).then(() => undefined)]);
    expect(err?.message).toMatch(new RegExp(`isolateExecutionTimeout ${LIMIT_MS} ms.*run ${loop.firstExecutionRunId}`));
    expect(Date.now() - started).toBeLessThan(3 * LIMIT_MS);
  } finally {
    if (worker.getState() === 'RUNNING') worker.shutdown();
    await running.catch(() => undefined);
    await client.workflow
      .getHandle(loopId)
      .terminate('test over')
      .catch(() => undefined);
  }
}, 120_000);
