/**
 * Correct under faults, where it takes days (faults-v1), on the time-skipping test server: a compensation keeps
 * trying until it succeeds; a callback whose receiver stays down gives up after three days, visibly, without touching
 * the job.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { builtinRegistry } from '../../activities';
import { ToolRegistry } from '../../activities/registry';
import { defineTool } from '../../activities/tool';
import { callbackTrailId } from '../../src/core/audit';
import { searchAttributeKeys } from '../../src/core/search-attributes';
import type { CallbackStatus } from '../../src/core/job';
import { submitJob } from '../../src/jobs/submit';
import { startTimeSkippingServer } from '../helpers/time-skipping';
import { callbackWorkflowId, jobStateQuery } from '../../workflows/messages';
import { makeRepo } from '../helpers/git';
import { testWorker, uniqueId, useTemporalServer } from '../helpers/temporal';

const temporal = useTemporalServer(async () => {
  const env = await startTimeSkippingServer();
  // The test server keeps custom search attributes only once they are registered.
  await env.connection.operatorService
    .addSearchAttributes({
      namespace: env.namespace ?? 'default',
      searchAttributes: Object.fromEntries(searchAttributeKeys.map((k) => [k.name, 2 /* KEYWORD */])),
    })
    .catch(() => undefined);
  return env;
});

/** A tool whose compensation fails its first 14 attempts (more than the 10 compensations used to get). */
const undoAttempts = { n: 0 };
const flaky = defineTool({
  name: 'test.flaky_undo',
  description: 'acts at once; its undo fails for a while',
  risk: 'low',
  input: z.object({}),
  output: z.object({ ok: z.boolean() }),
  idempotency: 'does nothing',
  async execute() {
    return { ok: true };
  },
  async compensate() {
    if (++undoAttempts.n <= 14) throw new Error(`the system to undo in is down (attempt ${undoAttempts.n})`);
  },
});
const registry = new ToolRegistry([...builtinRegistry().list(), flaky]);

test('a compensation that fails for a long while is retried until it succeeds', async () => {
  const { worker, taskQueue } = await testWorker(temporal.env, { registry });
  await worker.runUntil(async () => {
    const { handle } = await submitJob(
      temporal.env.client,
      {
        agent: 'release-bot',
        title: 'Undo slowly',
        steps: [
          { id: 'flaky', action: 'test.flaky_undo', input: {} },
          { id: 'fail', action: 'shell.run', input: { argv: ['false'], cwd: '/tmp' } },
        ],
      },
      { registry, taskQueue, requester: 'ci', jobId: uniqueId('job') },
    );
    await handle.result().catch(() => undefined);
    const state = await handle.query(jobStateQuery);
    expect(state.status).toBe('failed');
    expect(state.compensated).toEqual(['flaky']);
    expect(state.steps[0].status).toBe('compensated');
  });
  expect(undoAttempts.n).toBe(15);
});

test('a callback whose receiver stays down gives up after three days, visibly; the job stays succeeded', async () => {
  let posts = 0;
  const server = createServer((req, res) => {
    req.resume();
    posts++;
    res.writeHead(503).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { repo, cleanup } = makeRepo();
  const { worker, taskQueue } = await testWorker(temporal.env, { registry, callbackSecret: 'secret-for-tests' });
  try {
    await worker.runUntil(async () => {
      const { handle, jobId } = await submitJob(
        temporal.env.client,
        {
          agent: 'release-bot',
          title: 'Nobody listens',
          callbackUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/airlock`,
          steps: [{ id: 'b', action: 'git.create_branch', input: { repo, branch: 'cb' } }],
        },
        { registry, taskQueue, requester: 'ci', jobId: uniqueId('job') },
      );
      expect(await handle.result()).toMatchObject({ status: 'succeeded' });
      const delivery = temporal.env.client.workflow.getHandle(callbackWorkflowId(jobId));
      const status = (await delivery.result()) as CallbackStatus;
      expect(status).toMatchObject({ state: 'failed', lastError: { type: 'CallbackFailed' } });
      expect(status.attempts).toBe(posts);
      const triedMs = Date.parse(status.gaveUpAt!) - Date.parse((await handle.query(jobStateQuery)).endedAt!);
      expect(triedMs).toBeGreaterThan(2 * 24 * 3600_000);
      const state = await handle.query(jobStateQuery);
      expect([state.status, state.compensated]).toEqual(['succeeded', []]);
      const events = await temporal.audit().events(callbackTrailId(jobId));
      expect(events.map((e) => e.type)).toEqual(['callback.failed']);
      console.log(`the callback gave up after ${posts} POSTs over ${(triedMs / 3600_000).toFixed(1)} h (server time)`);
    });
  } finally {
    server.close();
    cleanup();
  }
});
