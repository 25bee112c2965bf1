/**
 * Health tells the truth: against a Temporal server without Airlock's search attributes, a real `airlock serve`
 * registers them at start (so jobs are accepted), and /healthz names what submission lacks with a 503.
 */
import { makeRepo } from '../helpers/git';
import { usePostgresDatabase } from '../helpers/postgres';
import { fixture, uniqueId, useTemporalServer } from '../helpers/temporal';
import { eventually } from '../helpers/wait';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process';
import { startDevServer } from '../../src/temporal/server';
import { missingSearchAttributes } from '../../src/temporal/search-attributes';

const temporal = useTemporalServer(() => startDevServer({ searchAttributes: false }));
const pg = usePostgresDatabase();
let api: WorkerProcess | undefined;
let repo: string;
let cleanup: () => void;

beforeAll(() => {
  ({ repo, cleanup } = makeRepo());
});
afterAll(async () => {
  await api?.stop();
  cleanup?.();
});

const health = async (base: string) => {
  const res = await fetch(`${base}/healthz`);
  return { status: res.status, body: (await res.json()) as Record<string, string> };
};

test('start registers the missing search attributes; jobs are accepted and health says ok, and 503 names them when they go', async () => {
  const { client } = temporal.env;
  expect(await missingSearchAttributes(client, 'default')).toEqual(['AirlockStatus', 'AirlockAgent', 'AirlockRetryOf']);

  api = await spawnWorker({
    command: 'serve',
    address: temporal.env.connection.options.address,
    taskQueue: uniqueId('health'),
    identity: 'health-under-test',
    env: {
      AIRLOCK_API_PORT: '0',
      AIRLOCK_DATABASE_URL: pg.url,
      AIRLOCK_POLICY_FILE: fixture('policy-allow-all.yaml'),
      AIRLOCK_PEOPLE_FILE: fixture('people-api.yaml'),
    },
  });
  const base = api.url!;
  expect(await missingSearchAttributes(client, 'default')).toEqual([]);

  const submitted = await fetch(`${base}/v1/jobs`, {
    method: 'POST',
    headers: { authorization: 'Bearer ci-test-token', 'idempotency-key': 'h-1', 'content-type': 'application/json' },
    body: JSON.stringify({
      agent: 'release-bot',
      title: 'Health',
      steps: [{ id: 'b', action: 'git.create_branch', input: { repo, branch: 'health' } }],
    }),
  });
  expect(submitted.status).toBe(201);
  expect(await health(base)).toEqual({
    status: 200,
    body: { status: 'ok', temporal: 'ok', namespace: 'ok', searchAttributes: 'ok', database: 'ok' },
  });

  // An operator removes them behind Airlock's back: health says so, by name.
  await client.connection.operatorService.removeSearchAttributes({
    namespace: 'default',
    searchAttributes: ['AirlockStatus'],
  });
  const unhealthy = await eventually(async () => {
    const h = await health(base);
    return h.status === 503 && h;
  }, 'health to notice');
  expect(unhealthy.body).toMatchObject({ status: 'unhealthy', temporal: 'ok', database: 'ok' });
  expect(unhealthy.body.searchAttributes).toMatch(/missing in namespace default: AirlockStatus/);
}, 120_000);
