/**
 * No input leaves a job stuck: what the stores cannot hold is refused at submission with 400 naming the field, bodies
 * the parser cannot take are 400 (not 500), an audit write the database refuses for good fails the job, and the ids
 * the API hands out fit its own routes. The composition root's API on the real Temporal dev server and PostgreSQL.
 */
import type { FastifyInstance } from 'fastify';
import { builtinRegistry } from '../../activities';
import { planJob } from '../../src/jobs/plan';
import { startPlannedJob } from '../../src/jobs/submit';
import { readJobState } from '../../src/jobs/read';
import { attestationKeys } from '../helpers/attestation';
import { makeRepo } from '../helpers/git';
import { fixture, testAirlock, testWorker, uniqueId, useTemporalServer, workflowBundle } from '../helpers/temporal';
import { eventually } from '../helpers/wait';

const temporal = useTemporalServer();
let repo: string;
let cleanup: () => void;
let app: FastifyInstance;
let base: string;
let taskQueue: string;
let close: () => Promise<void>;

beforeAll(async () => {
  ({ repo, cleanup } = makeRepo());
  await workflowBundle();
  taskQueue = uniqueId('limits');
  const airlock = await testAirlock(temporal.env, {
    taskQueue,
    policy: fixture('policy-approvals.yaml'),
    config: { AIRLOCK_PEOPLE_FILE: fixture('people-api.yaml'), AIRLOCK_RATE_LIMIT_PER_MINUTE: '100000' },
  });
  app = (await airlock.api()) as unknown as FastifyInstance;
  base = await app.listen({ host: '127.0.0.1', port: 0 });
  close = async () => {
    await app.close();
    await airlock.close();
  };
}, 90_000);
afterAll(async () => {
  await close?.();
  cleanup?.();
});

/** Runs a test with a worker on the API's task queue, stopped before the file's server and database go. */
const withWorker = (fn: () => Promise<void>) => async () => {
  const w = await testWorker(temporal.env, { taskQueue, policy: fixture('policy-approvals.yaml') });
  await w.worker.runUntil(fn());
};

async function call(method: string, path: string, opts: { as?: string; raw?: string; body?: unknown } = {}) {
  const headers: Record<string, string> = { 'idempotency-key': uniqueId('k') };
  if (opts.as) headers.authorization = `Bearer ${opts.as}-test-token`;
  const raw = opts.raw ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body));
  if (raw !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${base}${path}`, { method, headers, body: raw });
  const text = await res.text();
  let body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: res.status, body };
}

const job = (overrides: Record<string, unknown> = {}) => ({
  agent: 'release-bot',
  title: 'Limits',
  steps: [{ id: 'b', action: 'git.create_branch', input: { repo, branch: uniqueId('br') } }],
  ...overrides,
});

const nested = (levels: number): unknown => {
  let v: unknown = 'leaf';
  for (let i = 0; i < levels; i++) v = { a: v };
  return v;
};

describe('what the stores cannot hold is refused at submission, naming the field', () => {
  test.each([
    ['a NUL in the title', job({ title: 'ship\u0000it' }), 'title'],
    ['a lone surrogate in the title', job({ title: 'ship \uD800' }), 'title'],
    [
      'a NUL in an env value',
      job({
        steps: [{ id: 's', action: 'shell.run', input: { command: ['true'], cwd: '/tmp', env: { FOO: 'a\u0000b' } } }],
      }),
      'steps.0.input.env.FOO',
    ],
    ['a NUL in a context key', job({ context: { 'ticket\u0000': 1 } }), 'context.ticket\u0000'],
    ['a lone surrogate deep in the context', job({ context: { a: [{ b: '\uDC00' }] } }), 'context.a.0.b'],
    ['a context nested 40 levels deep', job({ context: nested(40) as Record<string, unknown> }), 'context.a.a.a'],
  ])('%s → 400', async (_what, body, path) => {
    const r = await call('POST', '/v1/jobs', { as: 'ci', raw: JSON.stringify(body) });
    expect(r.status).toBe(400);
    expect(r.body.error).toBe('invalid_job');
    expect(r.body.issues.map((i: { path: string }) => i.path).some((p: string) => p.startsWith(path))).toBe(true);
  });

  test('a job over the size bound is refused (the CLI has no body limit)', () => {
    expect(() => planJob(job({ context: { blob: 'x'.repeat(300 * 1024) } }), builtinRegistry(), 'ci')).toThrow(
      /at most 256 KiB/,
    );
  });
});

describe('the body parser answers 400, never 500', () => {
  test.each([
    ['an empty JSON body', ''],
    [
      'a number out of range (1e999)',
      JSON.stringify(job()).replace('"title":"Limits"', '"title":"Limits","budget":{"maxCost":1e999}'),
    ],
    ['nesting a few thousand levels deep', JSON.stringify(job({ context: nested(3000) }))],
    ['nesting a hundred thousand levels deep', `{"context":${'['.repeat(100_000)}${']'.repeat(100_000)}}`],
  ])('%s → 400', async (_what, raw) => {
    const r = await call('POST', '/v1/jobs', { as: 'ci', raw });
    expect(r.status).toBe(400);
    expect(r.body.error).toEqual(expect.any(String));
  });
});

test(
  'the longest allowed job and step ids round-trip through the job and approval routes',
  withWorker(async () => {
    const stepId = 's'.repeat(64);
    const merge = (branch: string) =>
      job({ steps: [{ id: stepId, action: 'git.merge', input: { repo, source: branch, target: 'main' } }] });

    // A job id the API hands out, with the longest step id.
    const submitted = await call('POST', '/v1/jobs', { as: 'ci', body: merge('main') });
    expect(submitted.status).toBe(201);
    // The longest job id there is (the CLI's --id), with the longest step id.
    const longJobId = 'j'.repeat(200);
    // Started directly, as the CLI's `jobs submit --id` does: it trusts the API's attestation keys like any job.
    const plan = { ...planJob(merge('main'), builtinRegistry(), 'ci'), attestationKeys };
    await startPlannedJob(temporal.env.client, plan, {
      taskQueue,
      jobId: longJobId,
    });

    for (const jobId of [submitted.body.id as string, longJobId]) {
      const approvalId = `${jobId}:${stepId}`;
      await eventually(async () => {
        const pending = await call('GET', '/v1/approvals?status=pending', { as: 'alice' });
        return pending.body.approvals?.some((a: { id: string }) => a.id === approvalId);
      }, `approval ${approvalId}`);
      const got = await call('GET', `/v1/jobs/${jobId}`, { as: 'alice' });
      expect(got.status).toBe(200);
      const decided = await call('POST', `/v1/approvals/${approvalId}/decision`, {
        as: 'alice',
        body: { decision: 'reject' },
      });
      expect(decided.status).toBe(200);
      await eventually(async () => (await readJobState(temporal.env.client, jobId))?.status === 'rejected', 'rejected');
    }
  }),
  60_000,
);

test(
  'an audit write the database refuses for good fails the job instead of retrying forever',
  withWorker(async () => {
    // Past the API's checks (a job started directly): the title holds a NUL, which jsonb cannot store (22P05).
    const plan = planJob(job(), builtinRegistry(), 'ci');
    plan.title = 'bad\u0000title';
    const { handle } = await startPlannedJob(temporal.env.client, plan, { taskQueue, jobId: uniqueId('job') });
    const err = await handle.result().then(
      () => undefined,
      (e: Error & { cause?: { type?: string } }) => e,
    );
    expect(err?.cause?.type).toBe('AuditWriteRefused');
    expect((await readJobState(temporal.env.client, handle.workflowId))?.status).toBe('failed');
  }),
  30_000,
);

test('an overlong id is a 400 naming the field, and a known path under another method is a 405', async () => {
  const long = await call('GET', `/v1/jobs/${'j'.repeat(300)}`, { as: 'alice' });
  expect(long.status).toBe(400);
  expect(long.body.message).toMatch(/params\.id/);
  const res = await fetch(`${base}/v1/jobs`, { method: 'PUT', headers: { authorization: 'Bearer alice-test-token' } });
  expect(res.status).toBe(405);
  expect(res.headers.get('allow')?.split(', ').sort()).toEqual(['GET', 'POST']);
});
