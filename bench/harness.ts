/**
 * What the benchmark's figures share: sizes and worker tuning (BENCH_* variables), the BENCH_ONLY selection, the audit
 * database, the 50-rule policy, dev servers with a worker, Airlock's API, the separate worker process, and the helpers
 * that start jobs and wait on them. Each figure (bench/figures/) takes a {@link Harness} and does its own setup.
 */
import { fork } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { type DevServer, startDevServer } from '../src/temporal/server';
import { bundleWorkflowCode, NativeConnection, type Worker } from '@temporalio/worker';
import { Client as PgClient } from 'pg';
import type { ToolRegistry } from '../activities';
import { openDatabase } from '../src/audit/db';
import { AuditStore } from '../src/audit/store';
import { submitJob } from '../src/jobs/submit';
import { PolicyStore } from '../src/policy/store';
import { createLogger, installTemporalLogger } from '../src/logger';
import { cpuPer, cpuSnapshot, check, sleep } from './lib';
import { APPROVER_TOKEN, BENCH_ATTESTOR, benchAirlock, benchRegistry } from './airlock';
import { bareActivities, started } from './noop-tool';

const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
/** How much each figure measures (README "Benchmarks" gives the defaults' reasons). */
export const SIZE = {
  overheadJobs: env('BENCH_OVERHEAD_JOBS', 60),
  sequentialJobs: env('BENCH_SEQUENTIAL_JOBS', 15),
  rounds: env('BENCH_ROUNDS', 5),
  approvals: env('BENCH_APPROVALS', 40),
  waiting: env('BENCH_WAITING_JOBS', 10_000),
  waitingResolve: env('BENCH_WAITING_RESOLVE', 40),
  apiSeconds: env('BENCH_API_SECONDS', 10),
  apiConcurrency: env('BENCH_API_CONCURRENCY', 16),
  policyDecisions: env('BENCH_POLICY_DECISIONS', 200_000),
  mcpCalls: env('BENCH_MCP_CALLS', 200),
};
/** No-op actions per job in figure 1 (and the bare baseline's activities). */
export const STEPS = 10;
/** The dev server's SQLite settings for every figure (the `pragmas` diagnosis runs figure 1 once without them). */
export const PRAGMAS = ['--sqlite-pragma', 'journal_mode=wal', '--sqlite-pragma', 'synchronous=normal'];
/**
 * Worker tuning (README "Benchmarks"): a 250-workflow cache keeps memory flat however many jobs wait (a waiting job is
 * evicted and replayed from history when its approval arrives: ~tens of ms for a short history); the concurrency
 * limits are above what 2 cores can use, so the server, not the worker, is the bottleneck in both columns.
 */
export const TUNING = {
  maxCachedWorkflows: env('BENCH_MAX_CACHED', 250),
  maxConcurrentActivityTaskExecutions: 200,
  maxConcurrentWorkflowTaskExecutions: 100,
  maxConcurrentLocalActivityExecutions: 200,
  workflowThreadPoolSize: env('BENCH_WORKFLOW_THREADS', 1),
};

/** What BENCH_ONLY may name: figure numbers, and `pragmas` (figure 1 also without the SQLite pragmas). */
export const SELECTABLE = ['1', '2', '3', '4', '5', '6', 'pragmas'];
/** BENCH_ONLY=1,4 runs part of the suite: a diagnosis; only a full run writes latest.json. Undefined: everything. */
export const ONLY = process.env.BENCH_ONLY?.split(',').map((s) => s.trim());
for (const name of ONLY ?? [])
  if (!SELECTABLE.includes(name))
    throw new Error(`BENCH_ONLY: unknown figure "${name}" (known: ${SELECTABLE.join(', ')})`);
/** Whether this run includes `figure` (a number, or `pragmas`). */
export const want = (figure: string) => !ONLY || ONLY.includes(figure);

/**
 * The audit store as production runs it: a throw-away database on the local PostgreSQL (AIRLOCK_BENCH_PG_ADMIN_URL),
 * or, when none answers, in-memory PGlite (single connection: slower under concurrency).
 */
async function benchDatabase(): Promise<{ url: string; drop: () => Promise<void> } | undefined> {
  // The local server's Unix socket when it lets us in (it spares a TCP loopback round per query; a Debian install
  // allows only peer authentication there), else TCP.
  const socket = '/var/run/postgresql';
  const candidates = process.env.AIRLOCK_BENCH_PG_ADMIN_URL
    ? [process.env.AIRLOCK_BENCH_PG_ADMIN_URL]
    : [
        ...(existsSync(`${socket}/.s.PGSQL.5432`) ? [`postgres://postgres:postgres@/test?host=${socket}`] : []),
        'postgres://postgres:postgres@127.0.0.1:5432/test',
      ];
  const name = `airlock_bench_${randomUUID().replace(/-/g, '').slice(0, 10)}`;
  const run = async (admin: string, sql: string) => {
    const c = new PgClient({ connectionString: admin, connectionTimeoutMillis: 2000 });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };
  for (const admin of candidates) {
    try {
      await run(admin, `CREATE DATABASE ${name}`);
    } catch {
      continue;
    }
    const url = admin.replace(/\/[^/?]*(\?|$)/, `/${name}$1`);
    return { url, drop: () => run(admin, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
  }
  return undefined;
}

/** A realistic 50-rule policy: 47 rules for other actions (globs, contexts, CEL), then the ones that match. */
function fiftyRulePolicy(): string {
  const rules: string[] = [];
  for (let i = 0; i < 47; i++) {
    rules.push(
      `  - id: other-${i}\n    match: { action: 'svc${i}.*', agent: ['team-${i}-*'], when: 'cost > ${i} && has(input.account) && input.account != "sandbox"' }\n    decision: ${i % 3 === 0 ? 'deny' : 'allow'}`,
    );
  }
  rules.push(
    `  - id: bench-needs-approval\n    match: { action: bench.noop, when: 'input.i < 0' }\n    decision: require_approval\n    approval: { groups: [sre], quorum: 1, timeout: 24h, channels: [api] }`,
  );
  rules.push(
    `  - id: shell-limits\n    match: { action: shell.run }\n    decision: allow\n    limits: { maxRuntime: 120s, writablePaths: [/tmp], deniedCommands: ['rm -rf', sudo] }`,
  );
  rules.push(
    `  - id: bench-allowed\n    match: { action: bench.noop, agent: 'bench*', risk: [low] }\n    decision: allow`,
  );
  return `version: 1\ndefault: { decision: deny }\nrules:\n${rules.join('\n')}\n`;
}

/** A dev server with a bench worker (Airlock's workflows and the bare baseline) in this process. */
export interface Stack {
  env: DevServer;
  worker: Worker;
  taskQueue: string;
  /** The server's SQLite file. */
  db: string;
  stop: () => Promise<void>;
}

let bundle: ReturnType<typeof bundleWorkflowCode> | undefined;
const workflowBundle = () =>
  (bundle ??= bundleWorkflowCode({
    workflowsPath: require.resolve('./workflows'),
    logger: { trace() {}, debug() {}, info() {}, warn() {}, error: console.error, log() {} } as never,
  }));

/** Starts a dev server (with or without the SQLite pragmas) and a bench worker on a task queue of its own. */
export async function startStack(opts: { pragmas: boolean; audit: AuditStore; policy: PolicyStore }): Promise<Stack> {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-bench-'));
  const db = join(dir, 'temporal.sqlite');
  const server = await startDevServer({ dbFilename: db, extraArgs: opts.pragmas ? PRAGMAS : [] });
  const taskQueue = `bench-${randomUUID().slice(0, 8)}`;
  const airlock = await benchAirlock({ client: server.client, taskQueue, policy: opts.policy, audit: opts.audit });
  const worker = await airlock.worker({
    connection: server.nativeConnection,
    // BENCH_DIAGNOSE_NO_AUDIT=1 measures the workflow's own cost without audit writes (a diagnosis, not a figure).
    ...(process.env.BENCH_DIAGNOSE_NO_AUDIT === '1'
      ? {
          auditSink: {
            append: async () => undefined,
            appendAll: async () => undefined,
            signHead: async () => undefined,
          },
        }
      : {}),
    extraActivities: bareActivities,
    workflowBundle: await workflowBundle(),
    tuning: TUNING,
  });
  const running = worker.run();
  return {
    env: server,
    worker,
    taskQueue,
    db,
    stop: async () => {
      worker.shutdown();
      await running;
      await server.teardown();
    },
  };
}

/**
 * Airlock's API (with its Slack route) on a loopback port, for the approval and submission figures, with its own
 * client as `airlock serve` has it (src/client.ts).
 */
export async function startApi(address: string, taskQueue: string, policy: PolicyStore, audit: AuditStore) {
  const connection = await NativeConnection.connect({ address });
  const client = new Client({ connection });
  const api = await (await benchAirlock({ client, taskQueue, policy, audit })).api();
  const base = await api.listen({ host: '127.0.0.1', port: 0 });
  return {
    base,
    close: async () => {
      await api.close();
      await connection.close();
    },
  };
}

/** Approves approval request `requestId` through the API as the bench's approver (with the digest seen, if given). */
export function approveViaApi(base: string, requestId: string, digest?: string): Promise<Response> {
  return fetch(`${base}/v1/approvals/${requestId}/decision`, {
    method: 'POST',
    headers: { authorization: `Bearer ${APPROVER_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ decision: 'approve', digest }),
  });
}

/** A job of `steps` no-op actions; with `approval`, its last action needs one (policy rule bench-needs-approval). */
export const benchJob = (steps: number, approval = false) => ({
  agent: 'bench-agent',
  title: 'bench',
  steps: Array.from({ length: steps }, (_, i) => ({
    id: `s${i}`,
    action: 'bench.noop',
    input: { i: approval && i === steps - 1 ? -1 : i },
  })),
});

/**
 * Submits a bench job as the bench's caller; returns its workflow handle. A job that asks humans trusts the bench's
 * attestation keys, as the API's submissions do.
 */
export async function submitBenchJob(
  client: Client,
  registry: ToolRegistry,
  taskQueue: string,
  jobId: string,
  job: ReturnType<typeof benchJob>,
) {
  const asksHumans = job.steps.some((s) => s.input.i < 0);
  return (
    await submitJob(client, job, {
      registry,
      taskQueue,
      requester: 'bench',
      jobId,
      ...(asksHumans ? { attestationKeys: BENCH_ATTESTOR.publicKeys() } : {}),
    })
  ).handle;
}

/** Runs `count` workflows at once; returns jobs/s, per-job latencies and CPU per job (ms, by process). */
export async function burst(count: number, start: (i: number) => Promise<{ result: () => Promise<unknown> }>) {
  const cpu0 = cpuSnapshot();
  const t0 = performance.now();
  const latencies = await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const s = performance.now();
      const h = await start(i);
      await h.result();
      return performance.now() - s;
    }),
  );
  return {
    perSecond: count / ((performance.now() - t0) / 1000),
    latencies,
    cpuMsPerJob: cpuPer(cpu0, cpuSnapshot(), count),
  };
}

/** Polls `probe` every 20 ms; a timeout fails the benchmark naming `what`. */
export async function waitFor(what: string, probe: () => boolean | Promise<boolean>, ms = 600_000) {
  const end = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > end) throw new Error(`benchmark check failed: timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** A bench worker in a process of its own (bench/worker.ts), so its memory is measured alone. */
export async function spawnBenchWorker(address: string, taskQueue: string, policyFile: string, auditUrl: string) {
  const child = fork(join(__dirname, 'worker.ts'), [], {
    execArgv: ['-r', 'tsx/cjs'],
    env: {
      ...process.env,
      ADDRESS: address,
      TASK_QUEUE: taskQueue,
      POLICY_FILE: policyFile,
      AUDIT_URL: auditUrl,
      TUNING: JSON.stringify(TUNING),
    },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const rssReplies: ((rss: number) => void)[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  await new Promise<void>((resolve, reject) => {
    child.on('message', (m: { ready?: boolean; started?: string; at?: number; rss?: number }) => {
      if (m.ready) resolve();
      if (m.started) started.set(m.started, m.at!);
      if (m.rss !== undefined) rssReplies.shift()?.(m.rss);
    });
    void exited.then((code) => reject(new Error(`the bench worker exited (${code}) before it was ready`)));
  });
  return {
    rss: () =>
      new Promise<number>((resolve) => {
        rssReplies.push(resolve);
        child.send({ rss: true });
      }),
    stop: async () => {
      child.send({ stop: true });
      await exited;
    },
  };
}

/** Tasks queued on the server for this task queue (workflow and activity), from its own statistics. */
export async function backlog(client: Client, taskQueue: string): Promise<number> {
  let total = 0;
  for (const taskQueueType of [
    temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
  ]) {
    const r = await client.workflowService.describeTaskQueue({
      namespace: 'default',
      taskQueue: { name: taskQueue },
      taskQueueType,
      reportStats: true,
    });
    total += Number(r.stats?.approximateBacklogCount ?? 0);
  }
  return total;
}

/** What every figure gets: the shared audit store, policy and tools, and the shared stack. */
export interface Harness {
  audit: AuditStore;
  /** The audit database's URL, for a worker process of its own (`memory:`: an in-memory PGlite of its own). */
  auditUrl: string;
  policy: PolicyStore;
  policyFile: string;
  registry: ToolRegistry;
  /** The shared dev server (pragmas on) and in-process worker for figures 1, 2 and 4; started on first use. */
  stack: () => Promise<Stack>;
  /** Stops the shared stack, if started: figure 3 runs on servers of its own after the rest has stopped. */
  stopStack: () => Promise<void>;
  /** Stops everything and drops the throw-away database. */
  close: () => Promise<void>;
}

/** Opens the harness: the audit database, the 50-rule policy; prints the machine, the sizes and the tuning. */
export async function openHarness(): Promise<Harness> {
  installTemporalLogger(createLogger('warn'), 'warn');
  const pg = await benchDatabase();
  const audit = await AuditStore.open(openDatabase(pg?.url ?? 'memory:'));
  const policyFile = join(mkdtempSync(join(tmpdir(), 'airlock-bench-policy-')), 'policy.yaml');
  writeFileSync(policyFile, fiftyRulePolicy());
  const policy = new PolicyStore(policyFile);
  console.log(
    `machine: ${cpus().length} cores (${cpus()[0]?.model}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB; audit store: ${pg ? `PostgreSQL (${pg.url.includes('host=/') ? 'Unix socket' : 'TCP'})` : 'PGlite (in memory)'}`,
  );
  console.log(`sizes: ${JSON.stringify(SIZE)}; worker tuning: ${JSON.stringify(TUNING)}\n`);
  let shared: Promise<Stack> | undefined;
  const startShared = async () => {
    const stack = await startStack({ pragmas: true, audit, policy });
    try {
      check(existsSync(`${stack.db}-wal`), 'journal_mode=wal took effect (the -wal file exists)');
    } catch (err) {
      await stack.stop();
      throw err;
    }
    return stack;
  };
  const stopStack = async () => {
    const s = shared;
    shared = undefined;
    // A stack that failed to start has nothing to stop.
    await s?.then(
      (stack) => stack.stop(),
      () => undefined,
    );
  };
  return {
    audit,
    auditUrl: pg?.url ?? 'memory:',
    policy,
    policyFile,
    registry: benchRegistry(),
    stack: () => (shared ??= startShared()),
    stopStack,
    close: async () => {
      try {
        await stopStack();
      } finally {
        await audit.db.close();
        await pg?.drop();
      }
    },
  };
}
