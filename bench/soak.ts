/**
 * `npm run soak`: the embedded stack (in-memory Temporal dev server and audit store, API on a free port) under a fixed
 * rate of mixed jobs and votes through the API for N minutes, printing per minute the worker process's memory and the
 * latency of submission and of completion, so drift shows. Not a benchmark and not in CI.
 *
 * SOAK_MINUTES (default 10) and SOAK_RATE (jobs per second, default 2). Half the jobs only create a branch; the other
 * half also delete it, which the soak policy sends to an approval that this script grants through the API as alice.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../src/config';
import { startStack } from '../src/dev/stack';

const MINUTES = Number(process.env.SOAK_MINUTES ?? 10);
const RATE = Number(process.env.SOAK_RATE ?? 2);
const TERMINAL = new Set(['succeeded', 'failed', 'rejected', 'cancelled', 'timed_out', 'compensated']);

const percentile = (xs: number[], p: number) => {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-soak-'));
  const repo = join(dir, 'repo');
  execFileSync('git', ['init', '-q', '-b', 'main', repo]);
  execFileSync('git', [
    '-C',
    repo,
    '-c',
    'user.name=soak',
    '-c',
    'user.email=soak@example.com',
    'commit',
    '-q',
    '--allow-empty',
    '-m',
    'init',
  ]);
  const policy = join(dir, 'policy.yaml');
  writeFileSync(
    policy,
    `version: 1
rules:
  - id: deleting-needs-an-sre
    match: { action: git.delete_branch }
    decision: require_approval
    approval: { groups: [sre], quorum: 1, timeout: 1h, channels: [api] }
  - id: branches
    match: { action: git.create_branch }
    decision: allow
`,
  );
  const config = loadConfig({
    ...process.env,
    AIRLOCK_DATA_DIR: dir,
    AIRLOCK_DATABASE_URL: 'memory:',
    AIRLOCK_POLICY_FILE: policy,
    AIRLOCK_API_PORT: '0',
    AIRLOCK_LOG_LEVEL: 'error',
    AIRLOCK_GIT_ALLOWED_ROOTS: dir,
  });
  const stack = await startStack({ config, persistent: false });
  const api = await stack.airlock.serve();
  const call = async (method: string, path: string, token: string, body?: unknown) => {
    const res = await fetch(`${api.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body ? { 'content-type': 'application/json', 'idempotency-key': crypto.randomUUID() } : {}),
      },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { status: res.status, body: (await res.json().catch(() => ({}))) as Record<string, unknown> };
  };

  let n = 0;
  let failures = 0;
  const inFlight = new Set<Promise<void>>();
  const one = async (minute: { submitMs: number[]; doneMs: number[] }) => {
    const i = n++;
    const approve = i % 2 === 1;
    const branch = `soak-${i}`;
    const started = performance.now();
    const submitted = await call('POST', '/v1/jobs', 'dev-ci-token', {
      agent: 'release-bot',
      title: `soak ${i}`,
      steps: [
        { id: 'create', action: 'git.create_branch', input: { repo, branch } },
        ...(approve ? [{ id: 'delete', action: 'git.delete_branch', input: { repo, branch } }] : []),
      ],
    });
    minute.submitMs.push(performance.now() - started);
    if (submitted.status !== 201) {
      failures++;
      return;
    }
    const id = String(submitted.body.id);
    let voted = false;
    for (;;) {
      await new Promise((r) => setTimeout(r, 200));
      const job = await call('GET', `/v1/jobs/${id}`, 'dev-alice-token');
      const status = String(job.body.status);
      if (TERMINAL.has(status)) {
        if (status !== 'succeeded') failures++;
        break;
      }
      if (approve && !voted && status === 'awaiting_approval') {
        voted =
          (await call('POST', `/v1/approvals/${id}:delete/decision`, 'dev-alice-token', { decision: 'approve' }))
            .status < 300;
      }
    }
    minute.doneMs.push(performance.now() - started);
  };

  console.log(`soak: ${MINUTES} min at ${RATE} jobs/s (half with an approval), API ${api.url}`);
  console.log('minute  jobs  rss MiB  heap MiB  submit p50/p99 ms  done p50/p99 ms  failures');
  try {
    for (let m = 1; m <= MINUTES; m++) {
      const minute = { submitMs: [] as number[], doneMs: [] as number[] };
      const end = performance.now() + 60_000;
      while (performance.now() < end) {
        const p = one(minute).catch(() => void failures++);
        inFlight.add(p);
        void p.finally(() => inFlight.delete(p));
        await new Promise((r) => setTimeout(r, 1000 / RATE));
      }
      const mem = process.memoryUsage();
      console.log(
        [
          String(m).padStart(6),
          String(minute.submitMs.length).padStart(5),
          (mem.rss / 2 ** 20).toFixed(0).padStart(8),
          (mem.heapUsed / 2 ** 20).toFixed(0).padStart(9),
          `${percentile(minute.submitMs, 50).toFixed(0)}/${percentile(minute.submitMs, 99).toFixed(0)}`.padStart(18),
          `${percentile(minute.doneMs, 50).toFixed(0)}/${percentile(minute.doneMs, 99).toFixed(0)}`.padStart(16),
          String(failures).padStart(9),
        ].join(' '),
      );
    }
    await Promise.all(inFlight);
  } finally {
    await api.close();
    await stack.stop();
  }
  if (failures) {
    console.error(`${failures} jobs did not succeed`);
    process.exitCode = 1;
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
