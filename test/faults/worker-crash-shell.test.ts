/**
 * Fault suite: a worker SIGKILLed after a shell command's side effect, before the activity reports; a new worker
 * retries the command (declared idempotent, keyed by AIRLOCK_IDEMPOTENCY_KEY) and the side effect happened once.
 * The recovery time is printed against the configured timeouts (heartbeat 2 s, start-to-close 8 s here). git and
 * http.request are covered the same way by test/idempotency/worker-crash.test.ts.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { builtinTools, ToolRegistry } from '../../activities';
import type { ToolDefinition } from '../../activities/tool';
import { submitJob } from '../../src/jobs/submit';
import { usePostgresDatabase } from '../helpers/postgres';
import { uniqueId, useTemporalServer } from '../helpers/temporal';
import { eventually } from '../helpers/wait';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process';

const temporal = useTemporalServer();
const pg = usePostgresDatabase();
const dir = mkdtempSync(join(tmpdir(), 'airlock-shell-crash-'));
const policy = join(dir, 'policy.yaml');
writeFileSync(policy, `version: 1\nrules:\n  - id: run\n    match: { action: shell.run }\n    decision: allow\n`);
const workers: WorkerProcess[] = [];
afterAll(async () => {
  await Promise.all(workers.map((w) => w.kill()));
});

const HEARTBEAT_MS = 2_000;
const START_TO_CLOSE_MS = 8_000;
const fastRegistry = () =>
  new ToolRegistry(
    builtinTools.map((t): ToolDefinition => ({
      ...t,
      timeouts: { startToCloseMs: START_TO_CLOSE_MS, heartbeatMs: t.timeouts?.heartbeatMs ? HEARTBEAT_MS : undefined },
    })),
  );

test('shell.run: worker killed after the side effect; the keyed retry applies nothing more; one effect', async () => {
  const work = mkdtempSync(join(dir, 'work-'));
  writeFileSync(join(work, 'armed'), '');
  // Applies its effect once per idempotency key; the first attempt then hangs so the worker dies before reporting.
  const script = [
    // The key is <job>/<step>: a file name without the slash.
    'key=$(printf %s "$AIRLOCK_IDEMPOTENCY_KEY" | tr / _)',
    'if [ ! -e "applied-$key" ]; then echo effect >> effects.log; touch "applied-$key"; fi',
    'if [ -e armed ]; then rm armed; touch reached; sleep 60; fi',
    'cat effects.log',
  ].join('\n');
  const taskQueue = uniqueId('crash');
  const spawnOpts = {
    address: temporal.env.connection.options.address,
    taskQueue,
    env: {
      AIRLOCK_DATABASE_URL: pg.url,
      AIRLOCK_DATA_DIR: dir,
      AIRLOCK_POLICY_FILE: policy,
      AIRLOCK_SHELL_ALLOWED_ROOTS: dir,
    },
  };
  workers.push(await spawnWorker({ ...spawnOpts, identity: 'worker-1' }));
  const { handle } = await submitJob(
    temporal.env.client,
    {
      agent: 'ops-bot',
      title: 'Apply once',
      steps: [
        {
          id: 'apply',
          action: 'shell.run',
          input: { argv: ['sh', '-c', script], cwd: work, idempotent: true, timeoutSec: 120 },
        },
      ],
    },
    { registry: fastRegistry(), taskQueue, requester: 'tester', jobId: uniqueId('job') },
  );
  await eventually(() => existsSync(join(work, 'reached')), 'the side effect');
  const killed = performance.now();
  await workers[0].kill();
  workers.push(await spawnWorker({ ...spawnOpts, identity: 'worker-2' }));
  const result = await handle.result();
  const recoveryMs = performance.now() - killed;
  console.log(
    `shell.run recovered ${recoveryMs.toFixed(0)} ms after the kill (heartbeat timeout ${HEARTBEAT_MS} ms, ` +
      `start-to-close ${START_TO_CLOSE_MS} ms, plus the new worker's start)`,
  );
  expect(result.outputs.apply).toMatchObject({ exitCode: 0, stdout: 'effect\n' });
  expect(readFileSync(join(work, 'effects.log'), 'utf8')).toBe('effect\n');
  // Noticed by the heartbeat timeout, not after the command's own 120 s.
  expect(recoveryMs).toBeLessThan(60_000);
});
