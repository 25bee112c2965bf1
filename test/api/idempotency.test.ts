/**
 * Idempotency-Keys are durable: kept in the audit database, they hold after the job ended, after an API restart and
 * across API instances, and Temporal never starts a second run of a job. The APIs are the composition root's, on the
 * real Temporal dev server and PostgreSQL; each "instance" is its own composition root and Fastify server.
 */
import type { Airlock } from '../../src/compose';
import { makeRepo } from '../helpers/git';
import { fixture, testAirlock, testWorker, uniqueId, useTemporalServer, workflowBundle } from '../helpers/temporal';
import { eventually } from '../helpers/wait';

const temporal = useTemporalServer();
let repo: string;
let cleanup: () => void;
let taskQueue: string;
const opened: Airlock[] = [];

beforeAll(async () => {
  ({ repo, cleanup } = makeRepo());
  await workflowBundle();
}, 90_000);
afterAll(async () => {
  for (const a of opened) await a.close();
  cleanup?.();
});

/** Runs a test with a worker on a fresh task queue, stopped before the file's server and database go. */
const withWorker = (fn: () => Promise<void>) => async () => {
  const w = await testWorker(temporal.env);
  taskQueue = w.taskQueue;
  await w.worker.runUntil(fn());
};

/** One API instance: its own composition root and server on this file's Temporal server and database. */
async function apiInstance(config: Record<string, string> = {}) {
  const airlock = await testAirlock(temporal.env, {
    taskQueue,
    config: { AIRLOCK_PEOPLE_FILE: fixture('people-api.yaml'), AIRLOCK_RATE_LIMIT_PER_MINUTE: '100000', ...config },
  });
  opened.push(airlock);
  const app = await airlock.api();
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  const submit = async (key: string, body: unknown) => {
    const res = await fetch(`${url}/v1/jobs`, {
      method: 'POST',
      headers: { authorization: 'Bearer ci-test-token', 'idempotency-key': key, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    return {
      status: res.status,
      body: (await res.json()) as { id: string; status: string; error?: string },
      replayed: res.headers.get('idempotent-replayed') ?? undefined,
    };
  };
  return { app, submit };
}

const smallJob = (branch: string) => ({
  agent: 'release-bot',
  title: `Branch ${branch}`,
  steps: [{ id: 'b', action: 'git.create_branch', input: { repo, branch } }],
});

const ended = (id: string) =>
  eventually(async () => {
    const d = await temporal.env.client.workflow.getHandle(id).describe();
    return d.status.name !== 'RUNNING';
  }, `job ${id} to end`);

/** Every run Temporal has of this workflow id. */
async function runsOf(id: string): Promise<string[]> {
  const runs: string[] = [];
  for await (const w of temporal.env.client.workflow.list({ query: `WorkflowId = '${id}'` })) runs.push(w.runId);
  return runs;
}

test(
  'the same key after the job ended, on another API instance, returns the job and starts no new run',
  withWorker(async () => {
    const first = await apiInstance();
    const second = await apiInstance();
    const key = uniqueId('ended');
    const job = smallJob(uniqueId('br'));

    const created = await first.submit(key, job);
    expect(created.status).toBe(201);
    expect(created.body.id).toMatch(/^job-[0-9a-f]{32}$/);
    await ended(created.body.id);

    const again = await second.submit(key, job);
    expect(again).toEqual({ status: 200, body: { id: created.body.id, status: 'succeeded' }, replayed: 'true' });
    expect(await runsOf(created.body.id)).toHaveLength(1);

    const other = await second.submit(key, { ...job, title: 'something else' });
    expect(other.status).toBe(422);
    expect(other.body.error).toBe('idempotency_key_reused');
    await first.app.close();
    await second.app.close();
  }),
);

test(
  'the same key after an API restart returns the original job',
  withWorker(async () => {
    const before = await apiInstance();
    const key = uniqueId('restart');
    const job = smallJob(uniqueId('br'));
    const created = await before.submit(key, job);
    expect(created.status).toBe(201);
    await ended(created.body.id);
    await before.app.close();

    const after = await apiInstance();
    const again = await after.submit(key, job);
    expect(again).toMatchObject({ status: 200, body: { id: created.body.id }, replayed: 'true' });
    expect(await runsOf(created.body.id)).toHaveLength(1);
    await after.app.close();
  }),
);

test(
  'concurrent requests with one key on two instances start one job',
  withWorker(async () => {
    const a = await apiInstance();
    const b = await apiInstance();
    const key = uniqueId('race');
    const job = smallJob(uniqueId('br'));
    const answers = await Promise.all([a.submit(key, job), b.submit(key, job), a.submit(key, job), b.submit(key, job)]);
    const ids = new Set(answers.map((r) => r.body.id));
    expect(ids.size).toBe(1);
    // One request starts it (201); should a replay find the claim first and start it, every answer is a replay.
    expect(answers.filter((r) => r.status === 201).length).toBeLessThanOrEqual(1);
    expect(answers.every((r) => r.status === 200 || r.status === 201)).toBe(true);
    expect(await runsOf([...ids][0])).toHaveLength(1);
    await Promise.all([...ids].map(ended));
    await a.app.close();
    await b.app.close();
  }),
);

test(
  'an expired key is deleted and may start a new job (retention is configurable)',
  withWorker(async () => {
    // 3.6 seconds.
    const api = await apiInstance({ AIRLOCK_IDEMPOTENCY_KEY_RETENTION_HOURS: '0.001' });
    const key = uniqueId('expiry');
    const job = smallJob(uniqueId('br'));
    const created = await api.submit(key, job);
    expect(created.status).toBe(201);
    await ended(created.body.id);
    await new Promise((r) => setTimeout(r, 4000));
    const fresh = await api.submit(key, job);
    expect(fresh.status).toBe(201);
    expect(fresh.body.id).not.toBe(created.body.id);
    await ended(fresh.body.id);
    await api.app.close();
  }),
  30_000,
);
