/**
 * What the benchmark's figures share: sizes and worker tuning (BENCH_* variables), the BENCH_ONLY selection, the audit
 * database, the 50-rule policy, dev servers with a worker, Airlock's API, the separate worker process, and the helpers
 * that start jobs and wait on them. Each figure (bench/figures/) takes a {@link Harness} and does its own setup.
 */
import { fork } from 'node:child_process';
import { createServer } from 'node:net';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { resolveClusterBinary } from '../src/temporal/binaries';
import {
  clusterDown,
  clusterEnvSchema,
  clusterUp,
  dropClusterDatabases,
  type ClusterOptions,
} from '../src/temporal/cluster';
import { startDevServer, type TemporalServer } from '../src/temporal/server';
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
  /** Figure 3 on the PostgreSQL cluster (BENCH_SERVERS includes `cluster`). */
  waitingCluster: env('BENCH_WAITING_JOBS_CLUSTER', 10_000),
};

/**
 * The servers figures 1, 3 and 4 run on: the CLI's dev server (SQLite) and the Temporal server built from the Go
 * module on PostgreSQL (`npm run build:temporal-server`), each fresh for the run. BENCH_SERVERS=dev,cluster picks;
 * by default both, or only the dev server when no cluster binary is built (said at the start).
 */
export type ServerKind = 'dev' | 'cluster';
export const SERVER_LABEL: Record<ServerKind, string> = { dev: 'dev server', cluster: 'PostgreSQL cluster' };
function chooseServers(): { servers: ServerKind[]; note?: string } {
  const asked = process.env.BENCH_SERVERS?.split(',').map((x) => x.trim());
  for (const k of asked ?? [])
    if (k !== 'dev' && k !== 'cluster') throw new Error(`BENCH_SERVERS: unknown server "${k}" (known: dev, cluster)`);
  if (asked) return { servers: asked as ServerKind[] };
  try {
    resolveClusterBinary('server');
    resolveClusterBinary('sql-tool');
    return { servers: ['dev', 'cluster'] };
  } catch (err) {
    return { servers: ['dev'], note: `cluster left out: ${(err as Error).message}` };
  }
}
export const SERVERS = chooseServers();
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

/** Whether `port` can be bound on loopback now. */
const portFree = (port: number) =>
  new Promise<boolean>((resolve) => {
    const probe = createServer();
    probe.once('error', () => resolve(false));
    probe.listen({ port, host: '127.0.0.1', exclusive: true }, () => probe.close(() => resolve(true)));
  });

/** A fresh Temporal server of either kind, as the figures use it. */
export interface BenchServer extends TemporalServer {
  readonly kind: ServerKind;
  readonly address: string;
  /** The dev server's SQLite file. */
  readonly db?: string;
}

/**
 * A throw-away one-node cluster: the Go-built server on the local PostgreSQL, with databases and a directory of its
 * own (dropped at teardown), on free ports, Airlock's search attributes registered as `airlock cluster up` does.
 */
async function startBenchCluster(): Promise<BenchServer> {
  const { AIRLOCK_CLUSTER_POSTGRES_URL } = clusterEnvSchema.parse(process.env);
  // The cluster takes its port, the next four, and four 300 below (membership, stored as a smallint: below 32768).
  let port = 0;
  for (let tries = 0; !port; tries++) {
    const p = 20_000 + Math.floor(Math.random() * 12_000);
    const all = [p, p + 1, p + 2, p + 3, p + 4, p - 300, p - 299, p - 298, p - 297];
    if ((await Promise.all(all.map(portFree))).every(Boolean)) port = p;
    else if (tries > 20) throw new Error('no free ports for the bench cluster');
  }
  const o: ClusterOptions = {
    postgresUrl: AIRLOCK_CLUSTER_POSTGRES_URL,
    port,
    dir: mkdtempSync(join(tmpdir(), 'airlock-bench-cluster-')),
    namespace: 'default',
    retentionHours: 24,
    databasePrefix: `airlock_bench_${randomUUID().replace(/-/g, '').slice(0, 8)}_`,
  };
  const teardownCluster = async () => {
    await clusterDown(o).catch(() => undefined);
    await dropClusterDatabases(o).catch(() => undefined);
  };
  try {
    await clusterUp(o);
    const address = `127.0.0.1:${port}`;
    const connection = await Connection.connect({ address });
    const nativeConnection = await NativeConnection.connect({ address });
    return {
      kind: 'cluster',
      address,
      connection,
      nativeConnection,
      client: new Client({ connection, namespace: o.namespace }),
      namespace: o.namespace,
      teardown: async () => {
        await connection.close().catch(() => undefined);
        await nativeConnection.close().catch(() => undefined);
        await teardownCluster();
      },
    };
  } catch (err) {
    await teardownCluster();
    throw err;
  }
}

/** A fresh server of `kind` (the dev server with the SQLite pragmas unless told otherwise). */
export async function startBenchServer(kind: ServerKind, pragmas = true): Promise<BenchServer> {
  if (kind === 'cluster') return startBenchCluster();
  const db = join(mkdtempSync(join(tmpdir(), 'airlock-bench-')), 'temporal.sqlite');
  const server = await startDevServer({ dbFilename: db, extraArgs: pragmas ? PRAGMAS : [] });
  return Object.assign(server, { kind, db });
}

/** A server with a bench worker (Airlock's workflows and the bare baseline) in this process. */
export interface Stack {
  env: BenchServer;
  worker: Worker;
  taskQueue: string;
  stop: () => Promise<void>;
}

let bundle: ReturnType<typeof bundleWorkflowCode> | undefined;
const workflowBundle = () =>
  (bundle ??= bundleWorkflowCode({
    workflowsPath: require.resolve('./workflows'),
    logger: { trace() {}, debug() {}, info() {}, warn() {}, error: console.error, log() {} } as never,
  }));

/** Starts a server of `kind` and a bench worker on a task queue of its own. */
export async function startStack(opts: {
  kind: ServerKind;
  pragmas: boolean;
  audit: AuditStore;
  policy: PolicyStore;
}): Promise<Stack> {
  const server = await startBenchServer(opts.kind, opts.pragmas);
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
  /** The shared server of `kind` (the dev server with pragmas) and in-process worker for figures 1, 2, 4 and 6. */
  stack: (kind?: ServerKind) => Promise<Stack>;
  /** Stops the shared stacks, if started: figure 3 runs on servers of its own after the rest has stopped. */
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
  if (SERVERS.note) console.log(`${SERVERS.note}\n`);
  const shared = new Map<ServerKind, Promise<Stack>>();
  const startShared = async (kind: ServerKind) => {
    const stack = await startStack({ kind, pragmas: true, audit, policy });
    try {
      if (stack.env.db) check(existsSync(`${stack.env.db}-wal`), 'journal_mode=wal took effect (the -wal file exists)');
    } catch (err) {
      await stack.stop();
      throw err;
    }
    return stack;
  };
  const stopStack = async () => {
    const stacks = [...shared.values()];
    shared.clear();
    // A stack that failed to start has nothing to stop.
    for (const s of stacks)
      await s.then(
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
    stack: (kind = 'dev') => {
      let s = shared.get(kind);
      if (!s) shared.set(kind, (s = startShared(kind)));
      return s;
    },
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
