/**
 * The HTTP API as internal systems use it: a real `airlock serve` process, the real Temporal dev server and real
 * PostgreSQL; everything below goes over HTTP only (except the one tampering with a stored audit row).
 */
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client as PgClient } from 'pg';
import { makeRepo } from '../helpers/git';
import { usePostgresDatabase } from '../helpers/postgres';
import { fixture, uniqueId, useTemporalServer } from '../helpers/temporal';
import { eventually } from '../helpers/wait';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process';

const temporal = useTemporalServer();
const pg = usePostgresDatabase();
const dataDir = mkdtempSync(join(tmpdir(), 'airlock-api-'));
let api: WorkerProcess;
let base: string;
let repo: string;
let cleanup: () => void;

beforeAll(async () => {
  ({ repo, cleanup } = makeRepo());
  api = await spawnWorker({
    command: 'serve',
    address: temporal.env.connection.options.address,
    taskQueue: uniqueId('api'),
    identity: 'api-under-test',
    env: {
      AIRLOCK_API_PORT: '0',
      AIRLOCK_DATABASE_URL: pg.url,
      AIRLOCK_DATA_DIR: dataDir,
      AIRLOCK_POLICY_FILE: fixture('policy-approvals.yaml'),
      AIRLOCK_PEOPLE_FILE: fixture('people-api.yaml'),
      AIRLOCK_RATE_LIMIT_PER_MINUTE: '100000',
    },
  });
  base = api.url!;
}, 90_000);
afterAll(async () => {
  await api?.stop();
  cleanup?.();
});

type Who = 'alice' | 'bob' | 'carol' | 'dave' | 'ci' | 'ci-plain' | 'other';
const token = (who: Who) => `${who}-test-token`;

async function call(method: string, path: string, opts: { as?: Who; body?: unknown; raw?: string; key?: string } = {}) {
  const headers: Record<string, string> = {};
  if (opts.as) headers.authorization = `Bearer ${token(opts.as)}`;
  if (opts.key) headers['idempotency-key'] = opts.key;
  if (opts.body !== undefined || opts.raw !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${base}${path}`, {
    method,
    headers,
    body: opts.raw ?? (opts.body === undefined ? undefined : JSON.stringify(opts.body)),
  });
  const text = await res.text();
  let json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: res.status, body: json, headers: res.headers };
}

const shipJob = (branch: string) => ({
  agent: 'release-bot',
  title: `Ship ${branch}`,
  steps: [
    { id: 'branch', action: 'git.create_branch', input: { repo, branch, from: 'main' } },
    {
      id: 'bump',
      action: 'git.commit',
      input: { repo, branch, message: 'Bump', files: [{ path: `${branch}.txt`, content: 'x\n' }] },
    },
    { id: 'merge', action: 'git.merge', input: { repo, source: branch, target: 'main' } },
  ],
});

/** The `airlock` command line, in a process of its own, against this file's API and audit database. */
const cli = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [join(__dirname, '..', '..', 'bin', 'airlock.js'), ...args], {
    env: { ...process.env, AIRLOCK_DATABASE_URL: pg.url, AIRLOCK_DATA_DIR: dataDir, ...env },
    encoding: 'utf8',
  });

const waitForStatus = (id: string, status: string) =>
  eventually(async () => {
    const r = await call('GET', `/v1/jobs/${id}`, { as: 'alice' });
    return r.body.status === status && r.body;
  }, `job ${id} to be ${status}`);

/** A one-step job that succeeds, once its audit head is signed. */
async function signedSmallJob(key: string, branch: string): Promise<string> {
  const { body } = await call('POST', '/v1/jobs', {
    as: 'ci',
    key,
    body: {
      agent: 'release-bot',
      title: key,
      steps: [{ id: 'b', action: 'git.create_branch', input: { repo, branch } }],
    },
  });
  await waitForStatus(body.id, 'succeeded');
  await eventually(
    async () => (await call('GET', `/v1/jobs/${body.id}/audit`, { as: 'alice' })).body.head?.signature,
    'the signed head',
  );
  return body.id;
}

test('happy path: submit → awaiting approval → two approvals → succeeded, with a verified, signed trail', async () => {
  const submitted = await call('POST', '/v1/jobs', { as: 'ci', key: 'happy-1', body: shipJob('happy') });
  expect(submitted.status).toBe(201);
  expect(submitted.body).toEqual({ id: expect.stringMatching(/^job-[0-9a-f]{32}$/), status: 'running' });
  const id = submitted.body.id;
  const requestId = submitted.headers.get('x-request-id');

  await waitForStatus(id, 'awaiting_approval');
  const pending = await call('GET', '/v1/approvals?status=pending', { as: 'alice' });
  const request = pending.body.approvals.find((a: { jobId: string }) => a.jobId === id);
  expect(request).toMatchObject({ id: `${id}:merge`, ruleId: 'merge-needs-two-sres', quorum: 2, status: 'pending' });

  expect(
    await call('POST', `/v1/approvals/${request.id}/decision`, { as: 'alice', body: { decision: 'approve' } }),
  ).toMatchObject({
    status: 200,
    body: { requestId: request.id, status: 'pending', approvals: 1, quorum: 2 },
  });
  expect(
    await call('POST', `/v1/approvals/${request.id}/decision`, {
      as: 'bob',
      body: { decision: 'approve', comment: 'ok' },
    }),
  ).toMatchObject({
    status: 200,
    body: { status: 'approved', approvals: 2 },
  });
  const done = await waitForStatus(id, 'succeeded');
  expect(done.steps.map((s: { status: string }) => s.status)).toEqual(['succeeded', 'succeeded', 'succeeded']);

  const audit = await eventually(async () => {
    const r = await call('GET', `/v1/jobs/${id}/audit?verify=1`, { as: 'alice' });
    return r.body.head?.signature && r;
  }, 'the signed trail');
  expect(audit.status).toBe(200);
  expect(audit.body.verification).toMatchObject({ ok: true, signed: true });
  expect(audit.body.events[0]).toMatchObject({ type: 'job.submitted', actor: 'ci', requestId });
  expect(
    audit.body.events
      .filter((e: { type: string }) => e.type === 'approval.vote')
      .map((e: { actor: string }) => e.actor),
  ).toEqual(['alice', 'bob']);
  expect(audit.body.events.at(-1).type).toBe('job.finished');

  // Offline: each vote's attestation checks against the channel keys the trail recorded at submission.
  const file = join(dataDir, 'happy.jsonl');
  expect(cli(['audit', 'export', id, '-o', file]).status).toBe(0);
  const verified = cli(['audit', 'verify', file]);
  expect(verified.stderr).toBe('');
  expect(verified.stdout).toContain('2/2 votes attested (keys from the trail)');
});

test("the CLI decides through the API with the person's own token; --as is gone", async () => {
  const { body } = await call('POST', '/v1/jobs', { as: 'ci', key: 'cli-1', body: shipJob('cli') });
  await waitForStatus(body.id, 'awaiting_approval');
  const requestId = `${body.id}:merge`;
  const env = { AIRLOCK_API_URL: base };
  expect(cli(['approvals', 'approve', requestId, '--as', 'alice'], env)).toMatchObject({
    status: 1,
    stderr: expect.stringContaining("unknown option '--as'"),
  });
  expect(cli(['approvals', 'approve', requestId], { ...env, AIRLOCK_TOKEN: '' })).toMatchObject({
    status: 1,
    stderr: expect.stringContaining('AIRLOCK_TOKEN'),
  });
  expect(cli(['approvals', 'approve', requestId], { ...env, AIRLOCK_TOKEN: 'nobody-token' })).toMatchObject({
    status: 1,
    stderr: expect.stringContaining('refused (unauthorized)'),
  });
  const tokenFile = join(dataDir, 'alice.token');
  writeFileSync(tokenFile, `${token('alice')}\n`);
  const approved = cli(['approvals', 'approve', requestId, '--token-file', tokenFile, '--comment', 'lgtm'], env);
  expect(approved.stdout).toBe(`${requestId}: pending (1/2)\n`);
  const rejected = cli(['approvals', 'reject', requestId, '--comment', 'not today'], {
    ...env,
    AIRLOCK_TOKEN: token('bob'),
  });
  expect(rejected.stdout).toBe(`${requestId}: rejected (1/2)\n`);
  const state = await waitForStatus(body.id, 'rejected');
  expect(state.approvals[0].votes.map((v: { approver: string; channel: string }) => [v.approver, v.channel])).toEqual([
    ['alice', 'api'],
    ['bob', 'api'],
  ]);
});

test('a caller asserts who asked (requestedBy): that person cannot approve, another SRE can; both are recorded', async () => {
  const submitted = await call('POST', '/v1/jobs', {
    as: 'ci',
    key: 'asserted-1',
    body: { ...shipJob('asserted'), requestedBy: 'bob' },
  });
  expect(submitted.status).toBe(201);
  const id = submitted.body.id;
  const job = await waitForStatus(id, 'awaiting_approval');
  expect(job).toMatchObject({ requester: 'bob', caller: 'ci' });
  expect(job.approvals[0]).toMatchObject({ requester: 'bob', caller: 'ci' });

  expect(
    await call('POST', `/v1/approvals/${id}:merge/decision`, { as: 'bob', body: { decision: 'approve' } }),
  ).toMatchObject({ status: 403, body: { error: 'self_approval', message: expect.stringContaining('bob requested') } });
  expect(
    await call('POST', `/v1/approvals/${id}:merge/decision`, { as: 'alice', body: { decision: 'approve' } }),
  ).toMatchObject({ status: 200, body: { approvals: 1 } });

  const trail = await call('GET', `/v1/jobs/${id}/audit`, { as: 'alice' });
  expect(trail.body.events[0]).toMatchObject({
    type: 'job.submitted',
    actor: 'bob',
    data: { caller: 'ci', requester: 'bob' },
  });
  expect(trail.body.events.find((e: { type: string }) => e.type === 'approval.refused')).toMatchObject({
    actor: 'bob',
    data: { code: 'self_approval' },
  });
  expect(await call('POST', `/v1/jobs/${id}/cancel`, { as: 'ci' })).toMatchObject({ status: 202 });
});

test.each([
  ['a caller with no mayAssert', 'ci-plain', 'bob', 'requestedBy: caller ci-plain may not assert bob'],
  ['a person outside its mayAssert', 'ci', 'carol', 'requestedBy: caller ci may not assert carol'],
  ['an unknown person', 'ci', 'zed', 'requestedBy: "zed" is not a person of the directory'],
] as const)('requestedBy by %s is a 403 naming the field; nothing starts', async (_what, as, who, message) => {
  const key = uniqueId('assert');
  const r = await call('POST', '/v1/jobs', { as, key, body: { ...shipJob('nope'), requestedBy: who } });
  expect(r).toMatchObject({ status: 403, body: { error: 'forbidden', message } });
});

test('a caller may assert a person by group (globs allowed)', async () => {
  const r = await call('POST', '/v1/jobs', {
    as: 'ci',
    key: 'asserted-dave',
    body: {
      agent: 'release-bot',
      title: 'by dave',
      requestedBy: 'dave',
      steps: [{ id: 'b', action: 'git.create_branch', input: { repo, branch: 'by-dave' } }],
    },
  });
  expect(r.status).toBe(201);
  expect(await waitForStatus(r.body.id, 'succeeded')).toMatchObject({ requester: 'dave', caller: 'ci' });
});

test('rejection path: one SRE rejects → rejected, and what was done is compensated', async () => {
  const { body } = await call('POST', '/v1/jobs', { as: 'ci', key: 'reject-1', body: shipJob('rejected') });
  await waitForStatus(body.id, 'awaiting_approval');
  const decided = await call('POST', `/v1/approvals/${body.id}:merge/decision`, {
    as: 'bob',
    body: { decision: 'reject', comment: 'not today' },
  });
  expect(decided).toMatchObject({ status: 200, body: { status: 'rejected' } });
  const state = await waitForStatus(body.id, 'rejected');
  expect(state.compensated).toEqual(['bump', 'branch']);
  expect(state.error).toMatchObject({ type: 'ApprovalRejected', message: expect.stringContaining('bob rejected') });
  // A late vote on the closed request.
  expect(
    await call('POST', `/v1/approvals/${body.id}:merge/decision`, { as: 'alice', body: { decision: 'approve' } }),
  ).toMatchObject({
    status: 409,
    body: { error: 'request_closed' },
  });
});

describe('bad input: the status, and a body naming every bad field; nothing starts', () => {
  test.each([
    ['malformed JSON', { raw: '{"agent": ' }, 400, { error: 'malformed_json' }],
    ['no Idempotency-Key', { body: shipJob('x'), key: '' }, 400, { error: 'idempotency_key_required' }],
    [
      'unknown field, wrong type, unknown action',
      { body: { ...shipJob('x'), extra: 1, title: 7, steps: [{ id: 'a', action: 'rm.everything', input: {} }] } },
      400,
      {
        error: 'invalid_job',
        issues: [
          { path: 'title', message: expect.any(String) },
          { path: '(root)', message: expect.stringContaining('extra') },
          { path: 'steps.0.action', message: expect.stringContaining('unknown action "rm.everything"') },
        ],
      },
    ],
    [
      'bad tool input and a dangling $ref',
      {
        body: {
          agent: 'release-bot',
          title: 't',
          steps: [
            {
              id: 'c',
              action: 'git.commit',
              input: {
                repo: 'relative',
                branch: { $ref: 'steps.nope.output.branch' },
                message: 'm',
                files: [{ path: 'a', content: '' }],
              },
            },
          ],
        },
      },
      400,
      {
        error: 'invalid_job',
        issues: [
          { path: 'steps.0.input.branch', message: expect.stringContaining('points to no earlier step') },
          { path: 'steps.0.input.repo', message: 'must be an absolute path' },
        ],
      },
    ],
    [
      'oversized body',
      { raw: JSON.stringify({ ...shipJob('x'), title: 'x'.repeat(300 * 1024) }) },
      413,
      { error: 'body_too_large' },
    ],
  ])('%s', async (_name, req, status, body) => {
    const key = uniqueId('bad');
    const res = await call('POST', '/v1/jobs', { as: 'ci', key: 'key' in req ? req.key : key, ...req });
    expect(res.status).toBe(status);
    expect(res.body).toMatchObject(body);
    expect(res.body.message).toEqual(expect.any(String));
    const listed = await call('GET', '/v1/jobs?agent=release-bot&limit=500', { as: 'alice' });
    expect(listed.body.jobs.map((j: { id: string }) => j.id)).not.toContain(key);
  });
});

describe('auth: 401 without a valid token, 403 when not allowed, each with the reason', () => {
  test.each([
    ['no token', 'POST', '/v1/jobs', {}, 401, 'unauthorized', /Authorization: Bearer/],
    ['a wrong token', 'GET', '/v1/jobs', { raw: undefined, bad: true }, 401, 'unauthorized', /not valid/],
    [
      'a person submitting a job',
      'POST',
      '/v1/jobs',
      { as: 'alice', key: 'k', body: shipJob('p') },
      403,
      'forbidden',
      /callers/,
    ],
    [
      'a caller running an agent not its own',
      'POST',
      '/v1/jobs',
      { as: 'other', key: 'k', body: shipJob('o') },
      403,
      'forbidden',
      /may not run agent release-bot/,
    ],
    [
      'a caller deciding an approval',
      'POST',
      '/v1/approvals/job-x:merge/decision',
      { as: 'ci', body: { decision: 'approve' } },
      403,
      'forbidden',
      /only people/,
    ],
    [
      'a non-operator freezing',
      'POST',
      '/v1/freeze',
      { as: 'dave', body: { reason: 'x' } },
      403,
      'forbidden',
      /operators/,
    ],
  ] as const)('%s', async (_name, method, path, opts, status, error, message) => {
    const res =
      'bad' in opts
        ? await fetch(`${base}${path}`, { method, headers: { authorization: 'Bearer nope' } }).then(async (r) => ({
            status: r.status,
            body: await r.json(),
          }))
        : await call(method, path, opts as Parameters<typeof call>[2]);
    expect(res).toMatchObject({ status, body: { error } });
    expect(res.body.message).toMatch(message);
  });

  test('an approver outside the groups is refused, and the refusal is in the audit trail', async () => {
    const { body } = await call('POST', '/v1/jobs', { as: 'ci', key: 'auth-1', body: shipJob('auth') });
    await waitForStatus(body.id, 'awaiting_approval');
    const res = await call('POST', `/v1/approvals/${body.id}:merge/decision`, {
      as: 'dave',
      body: { decision: 'approve' },
    });
    expect(res).toMatchObject({ status: 403, body: { error: 'not_in_group', message: 'dave is not in sre' } });
    const trail = await call('GET', `/v1/jobs/${body.id}/audit`, { as: 'alice' });
    expect(trail.body.events.find((e: { type: string }) => e.type === 'approval.refused')).toMatchObject({
      actor: 'dave',
      data: { code: 'not_in_group' },
    });
    expect(await call('POST', `/v1/jobs/${body.id}/cancel`, { as: 'dave' })).toMatchObject({
      status: 403,
      body: { error: 'forbidden' },
    });
    expect(await call('POST', `/v1/jobs/${body.id}/cancel`, { as: 'ci' })).toMatchObject({ status: 202 });
    await waitForStatus(body.id, 'cancelled');
  });
});

test('50 concurrent identical submissions start one workflow; the same key with another body is a 422', async () => {
  const key = uniqueId('dup');
  const job = shipJob('dup');
  const answers = await Promise.all(
    Array.from({ length: 50 }, () => call('POST', '/v1/jobs', { as: 'ci', key, body: job })),
  );
  const ids = new Set(answers.map((a) => a.body.id));
  expect(ids.size).toBe(1);
  expect(answers.filter((a) => a.status === 201)).toHaveLength(1);
  expect(answers.filter((a) => a.status === 200 && a.headers.get('idempotent-replayed') === 'true')).toHaveLength(49);
  const [id] = ids;
  const count = await temporal.env.client.workflow.count(`WorkflowId = '${id}'`);
  expect(count.count).toBe(1);

  const changed = await call('POST', '/v1/jobs', { as: 'ci', key, body: { ...job, title: 'something else' } });
  expect(changed).toMatchObject({ status: 422, body: { error: 'idempotency_key_reused' } });
  // Keys are scoped to the caller: another caller's same key is another job (refused here only for its agent).
  expect(await call('POST', '/v1/jobs', { as: 'other', key, body: { ...job, agent: 'other-bot' } })).toMatchObject({
    status: 201,
  });
  await call('POST', `/v1/jobs/${id}/cancel`, { as: 'ci' });
});

test('tampering with one stored audit row makes verify fail and name the event', async () => {
  const id = await signedSmallJob('tamper-1', 'tamper');
  const db = new PgClient({ connectionString: pg.url });
  await db.connect();
  try {
    await db.query('ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only');
    await db.query(
      `UPDATE audit_events SET data = jsonb_set(data, '{outcome}', '"deny"') WHERE job_id = $1 AND type = 'policy.decision'`,
      [id],
    );
    await db.query('ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only');
  } finally {
    await db.end();
  }
  const verified = await call('GET', `/v1/jobs/${id}/audit?verify=1`, { as: 'alice' });
  expect(verified.body.verification).toEqual({
    ok: false,
    seq: 2,
    key: 'decision:b:1',
    type: 'policy.decision',
    reason: 'its content does not match its hash',
  });
});

test('freeze and unfreeze over HTTP; a frozen agent gets 409 for new jobs', async () => {
  expect(
    await call('POST', '/v1/freeze', { as: 'carol', body: { agent: 'release-bot', reason: 'INC-9' } }),
  ).toMatchObject({
    status: 200,
    body: { frozen: { agent: 'release-bot', mode: 'pause', by: 'carol' } },
  });
  expect(await call('POST', '/v1/jobs', { as: 'ci', key: 'frozen-1', body: shipJob('frozen') })).toMatchObject({
    status: 409,
    body: { error: 'frozen', message: 'agent release-bot is frozen by carol: INC-9' },
  });
  expect(await call('DELETE', '/v1/freeze', { as: 'carol', body: { agent: 'release-bot' } })).toMatchObject({
    status: 200,
  });
});

test('openapi, metrics and health', async () => {
  const openapi = await call('GET', '/openapi.json');
  expect(Object.keys(openapi.body.paths)).toEqual(
    expect.arrayContaining([
      '/v1/jobs',
      '/v1/jobs/{id}',
      '/v1/jobs/{id}/cancel',
      '/v1/jobs/{id}/audit',
      '/v1/approvals',
      '/v1/approvals/{id}/decision',
      '/v1/freeze',
    ]),
  );
  expect(openapi.body.paths['/v1/jobs'].post.requestBody.content['application/json'].schema.properties).toHaveProperty(
    'steps',
  );
  const metrics = await call('GET', '/metrics');
  expect(metrics.status).toBe(200);
  expect(metrics.body).toMatch(/airlock_http_request_duration_seconds_bucket\{.*route="\/v1\/jobs"/);
  expect(metrics.body).toMatch(
    /airlock_policy_decisions_total\{outcome="require_approval",rule="merge-needs-two-sres"\} \d+/,
  );
  expect(metrics.body).toMatch(/airlock_approval_wait_seconds_count\{status="approved"\} [1-9]/);
  expect(metrics.body).toMatch(/airlock_jobs\{status="succeeded"\} [1-9]/);
  expect(await call('GET', '/healthz')).toMatchObject({ status: 200, body: { temporal: 'ok', database: 'ok' } });
});

test('airlock audit export writes JSONL that airlock audit verify checks offline; an edited line is named', async () => {
  const id = await signedSmallJob('export-1', 'exported');
  const file = join(dataDir, 'trail.jsonl');
  expect(cli(['audit', 'export', id, '-o', file]).status).toBe(0);
  const lines = readFileSync(file, 'utf8').trim().split('\n');
  expect(JSON.parse(lines[0])).toMatchObject({ type: 'job.submitted', jobId: id });
  const { publicKey } = JSON.parse(lines.at(-1)!);
  writeFileSync(join(dataDir, 'trusted.pem'), publicKey);

  const ok = cli(['audit', 'verify', file, '--public-key', join(dataDir, 'trusted.pem')]);
  expect(ok.status).toBe(0);
  expect(ok.stdout).toMatch(new RegExp(`^ok: ${lines.length - 1} events, head sha256:[0-9a-f]{64}, signed`));

  // A keyring directory: the key the head names must be in it; a ring of other keys fails naming the key it lacks.
  const { head } = JSON.parse(lines.at(-1)!);
  expect(head.keyId).toMatch(/^ed25519:[0-9a-f]{16}$/);
  const ring = mkdtempSync(join(dataDir, 'ring-'));
  const otherKey = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString();
  writeFileSync(join(ring, 'other.pem'), otherKey);
  const unknown = cli(['audit', 'verify', file, '--keyring', ring]);
  expect(unknown.status).toBe(1);
  expect(unknown.stderr).toContain(`signed by key ${head.keyId}, which is not in the keyring`);
  writeFileSync(join(ring, 'trusted.pem'), publicKey);
  expect(cli(['audit', 'verify', file, '--keyring', ring]).status).toBe(0);

  lines[1] = lines[1].replace('"outcome":"allow"', '"outcome":"deny"');
  writeFileSync(file, `${lines.join('\n')}\n`);
  const broken = cli(['audit', 'verify', file, '--public-key', join(dataDir, 'trusted.pem')]);
  expect(broken.status).toBe(1);
  expect(broken.stderr).toContain(
    'broken at event 2 (policy.decision, key decision:b:1): its content does not match its hash',
  );
});
