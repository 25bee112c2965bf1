/**
 * Correct under faults, class 10: the embedded audit store never loses events. PGlite belongs to one process; with a
 * stack running on a PGlite directory, a second `airlock serve` on it is refused naming the alternatives, the CLI's
 * vote and audit export go through the running stack's API, and after a restart the trail is complete and verifies.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lockStore, StoreInUseError } from '../../src/audit/lock';
import { makeRepo } from '../helpers/git';
import { fixture, uniqueId, useTemporalServer } from '../helpers/temporal';
import { eventually } from '../helpers/wait';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process';

const temporal = useTemporalServer();
const CLI = join(__dirname, '..', '..', 'bin', 'airlock.js');
const dir = mkdtempSync(join(tmpdir(), 'airlock-embedded-'));
const store = join(dir, 'audit');
const policy = join(dir, 'policy.yaml');
writeFileSync(
  policy,
  `version: 1
rules:
  - id: merge-needs-an-sre
    match: { action: git.merge }
    decision: require_approval
    approval: { groups: [sre], quorum: 1, timeout: 1h, channels: [api] }
  - id: everyday
    match: { action: git.create_branch }
    decision: allow
`,
);
const processes: WorkerProcess[] = [];
afterAll(async () => {
  await Promise.all(processes.map((p) => p.stop()));
});

/** The environment of every process here: the embedded store in `dir`, the tests' people with their tokens. */
const env = (extra: Record<string, string> = {}) => ({
  AIRLOCK_DATA_DIR: dir,
  AIRLOCK_DATABASE_URL: store,
  AIRLOCK_PEOPLE_FILE: fixture('people-api.yaml'),
  AIRLOCK_POLICY_FILE: policy,
  AIRLOCK_API_PORT: '0',
  ...extra,
});

const serve = async (identity: string) => {
  const p = await spawnWorker({
    address: temporal.env.connection.options.address,
    taskQueue: 'embedded-lock',
    identity,
    command: 'serve',
    env: env(),
  });
  processes.push(p);
  return p;
};

function cli(args: string[], extra: Record<string, string> = {}) {
  const base = { ...process.env };
  for (const k of Object.keys(base)) if (k.startsWith('AIRLOCK_')) delete base[k];
  const r = spawnSync(process.execPath, [CLI, ...args], {
    env: {
      ...base,
      AIRLOCK_TEMPORAL_ADDRESS: temporal.env.connection.options.address,
      AIRLOCK_TASK_QUEUE: 'embedded-lock',
      AIRLOCK_ALLOW_DEV_CREDENTIALS: '1',
      ...env(extra),
    },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: r.status, stdout: r.stdout, out: `${r.stdout}${r.stderr}` };
}

const lines = (jsonl: string) =>
  jsonl
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));

test('a lock is refused while its owner lives and taken over from a process that died', () => {
  const d = join(dir, 'unit');
  const release = lockStore(d);
  expect(() => lockStore(d)).toThrow(StoreInUseError);
  expect(() => lockStore(d)).toThrow(/in use by process \d+.*AIRLOCK_DATABASE_URL/s);
  release();
  // A pid that cannot be alive (above the kernel's pid_max): its lock is stale.
  writeFileSync(`${d}.lock`, '99999999\n');
  lockStore(d)();
});

test('one stack owns the embedded store; the CLI goes through its API; after a restart the trail is whole', async () => {
  const { repo, cleanup } = makeRepo();
  try {
    let stack = await serve('stack-1');
    const api = (path: string, init: RequestInit & { as: string }) =>
      fetch(`${stack.url}${path}`, {
        ...init,
        headers: {
          authorization: `Bearer ${init.as}-test-token`,
          'content-type': 'application/json',
          'idempotency-key': uniqueId('key'),
        },
      }).then(async (r) => ({
        status: r.status,
        body: (await r.json()) as { id: string; status?: string; head?: { signature?: string } },
      }));

    // A second process on the same directory is refused, naming what to use instead.
    const second = cli(['serve'], {});
    expect(second.status).toBe(1);
    expect(second.out).toMatch(/embedded audit store .* is in use by process \d+/);
    expect(second.out).toContain('AIRLOCK_DATABASE_URL');

    const submitted = await api('/v1/jobs', {
      as: 'ci',
      method: 'POST',
      body: JSON.stringify({
        agent: 'release-bot',
        title: 'Embedded store',
        steps: [
          { id: 'branch', action: 'git.create_branch', input: { repo, branch: 'embedded' } },
          { id: 'merge', action: 'git.merge', input: { repo, source: 'embedded', target: 'main' } },
        ],
      }),
    });
    expect(submitted.status).toBe(201);
    const jobId = submitted.body.id;
    await eventually(
      async () => (await api(`/v1/jobs/${jobId}`, { as: 'alice' })).body.status === 'awaiting_approval',
      'the approval request',
    );

    // The vote through the CLI: with the person's token, to the running stack's API.
    const voted = cli(['approvals', 'approve', `${jobId}:merge`], {
      AIRLOCK_TOKEN: 'alice-test-token',
      AIRLOCK_API_URL: stack.url!,
    });
    expect(voted.out).toContain('approved');
    await eventually(
      async () => (await api(`/v1/jobs/${jobId}/audit`, { as: 'alice' })).body.head?.signature,
      'the signed head',
    );

    // The export while the stack runs: through the API (the store is the stack's); without a token, a clear refusal.
    const refused = cli(['audit', 'export', jobId]);
    expect(refused.status).toBe(1);
    expect(refused.out).toMatch(/in use by process \d+[\s\S]*AIRLOCK_TOKEN/);
    const file = join(dir, 'trail.jsonl');
    const exported = cli(['audit', 'export', jobId, '-o', file], {
      AIRLOCK_TOKEN: 'alice-test-token',
      AIRLOCK_API_URL: stack.url!,
    });
    expect(exported.status).toBe(0);
    const whileRunning = readFileSync(file, 'utf8');
    const verified = cli(['audit', 'verify', file]);
    expect(verified.out).toMatch(/^ok: \d+ events, head .*, signed/);
    expect(whileRunning).toContain('"type":"approval.vote"');

    // Stopped: the CLI opens the store itself. Then a restart: the same trail, complete, through the API again.
    await stack.stop();
    const direct = cli(['audit', 'export', jobId]);
    expect(direct.status).toBe(0);
    // The same trail (the API's JSON orders keys by its schema; the content is what counts).
    expect(lines(direct.stdout)).toEqual(lines(whileRunning));
    stack = await serve('stack-2');
    const again = cli(['audit', 'export', jobId, '-o', file], {
      AIRLOCK_TOKEN: 'alice-test-token',
      AIRLOCK_API_URL: stack.url!,
    });
    expect(again.status).toBe(0);
    expect(lines(readFileSync(file, 'utf8'))).toEqual(lines(whileRunning));
    expect(cli(['audit', 'verify', file]).out).toMatch(/^ok: /);
  } finally {
    cleanup();
  }
});
