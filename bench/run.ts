/**
 * `npm run bench`: what governance costs, side by side with bare Temporal on the same dev server and worker settings.
 * Prints a table and writes bench/results/*.json. Sizes come from BENCH_* variables (defaults below); a correctness
 * check that fails (a job not completed, a duplicate not deduplicated) fails the run.
 */
import { fork, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, NativeConnection, type Worker } from '@temporalio/worker';
import { Client as PgClient } from 'pg';
import type { ToolRegistry } from '../activities';
import { slackSignature } from '../approvals/slack/verify';
import { openDatabase } from '../src/audit/db';
import { AuditStore } from '../src/audit/store';
import { submitJob } from '../src/jobs/submit';
import { evaluatePolicy } from '../src/policy/evaluate';
import { actionFacts } from '../src/core/facts';
import { compilePolicy } from '../src/policy/load';
import { PolicyStore } from '../src/policy/store';
import { startDevServer } from '../src/temporal/server';
import { createLogger, installTemporalLogger } from '../src/logger';
import { jobStateQuery } from '../workflows/messages';
import {
  check,
  cpuPer,
  cpuSnapshot,
  ms,
  printTable,
  record,
  rows,
  sleep,
  summarize,
  writeResults,
  type Summary,
} from './lib';
import { APPROVER_TOKEN, BENCH_ATTESTOR, benchAirlock, benchRegistry, CALLER_TOKEN, SLACK_SECRET } from './airlock';
import { bareActivities, clock, started } from './noop-tool';

const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const SIZE = {
  overheadJobs: env('BENCH_OVERHEAD_JOBS', 60),
  sequentialJobs: env('BENCH_SEQUENTIAL_JOBS', 15),
  rounds: env('BENCH_ROUNDS', 5),
  approvals: env('BENCH_APPROVALS', 40),
  waiting: env('BENCH_WAITING_JOBS', 10_000),
  waitingResolve: env('BENCH_WAITING_RESOLVE', 40),
  apiSeconds: env('BENCH_API_SECONDS', 10),
  apiConcurrency: env('BENCH_API_CONCURRENCY', 16),
  policyDecisions: env('BENCH_POLICY_DECISIONS', 200_000),
};
/** BENCH_ONLY=1,4 (figure numbers, or `pragmas`) runs part of the suite: a diagnosis; only a full run writes latest.json. */
const ONLY = process.env.BENCH_ONLY?.split(',').map((s) => s.trim());
const want = (figure: string) => !ONLY || ONLY.includes(figure);
const STEPS = 10;
const RESUME_CUTOFF_MS = 120_000;
const PRAGMAS = ['--sqlite-pragma', 'journal_mode=wal', '--sqlite-pragma', 'synchronous=normal'];
/**
 * Worker tuning (README "Benchmarks"): a 250-workflow cache keeps memory flat however many jobs wait (a waiting job is
 * evicted and replayed from history when its approval arrives: ~tens of ms for a short history); the concurrency
 * limits are above what 2 cores can use, so the server, not the worker, is the bottleneck in both columns.
 */
const TUNING = {
  maxCachedWorkflows: env('BENCH_MAX_CACHED', 250),
  maxConcurrentActivityTaskExecutions: 200,
  maxConcurrentWorkflowTaskExecutions: 100,
  maxConcurrentLocalActivityExecutions: 200,
  workflowThreadPoolSize: env('BENCH_WORKFLOW_THREADS', 1),
};

/**
 * The audit store as production runs it: a throw-away database on the local PostgreSQL (AIRLOCK_BENCH_PG_ADMIN_URL),
 * or, when none answers, in-memory PGlite (single connection: slower under concurrency).
 */
async function benchDatabase(): Promise<{ url: string; drop: () => Promise<void> } | undefined> {
  // The local server's Unix socket when there is one: co-located, it spares a TCP loopback round per query.
  const socket = '/var/run/postgresql';
  const admin =
    process.env.AIRLOCK_BENCH_PG_ADMIN_URL ??
    (existsSync(`${socket}/.s.PGSQL.5432`)
      ? `postgres://postgres@/test?host=${socket}`
      : 'postgres://postgres:postgres@127.0.0.1:5432/test');
  const name = `airlock_bench_${randomUUID().replace(/-/g, '').slice(0, 10)}`;
  const run = async (sql: string) => {
    const c = new PgClient({ connectionString: admin, connectionTimeoutMillis: 2000 });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };
  try {
    await run(`CREATE DATABASE ${name}`);
  } catch {
    return undefined;
  }
  const url = admin.replace(/\/[^/?]*(\?|$)/, `/${name}$1`);
  return { url, drop: () => run(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
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

interface Stack {
  env: TestWorkflowEnvironment;
  worker: Worker;
  running: Promise<void>;
  taskQueue: string;
  db?: string;
  stop: () => Promise<void>;
}

async function startStack(opts: { pragmas: boolean; audit: AuditStore; policy: PolicyStore }): Promise<Stack> {
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
    workflowBundle: await bundle,
    tuning: TUNING,
  });
  const running = worker.run();
  return {
    env: server,
    worker,
    running,
    taskQueue,
    db,
    stop: async () => {
      worker.shutdown();
      await running;
      await server.teardown();
    },
  };
}

const bundle = bundleWorkflowCode({
  workflowsPath: require.resolve('./workflows'),
  logger: { trace() {}, debug() {}, info() {}, warn() {}, error: console.error, log() {} } as never,
});

const benchJob = (steps: number, approval = false) => ({
  agent: 'bench-agent',
  title: 'bench',
  steps: Array.from({ length: steps }, (_, i) => ({
    id: `s${i}`,
    action: 'bench.noop',
    input: { i: approval && i === steps - 1 ? -1 : i },
  })),
});

/** Runs `count` workflows at once; returns jobs/s, per-job latencies and CPU per job (ms, by process). */
async function burst(count: number, start: (i: number) => Promise<{ result: () => Promise<unknown> }>) {
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

async function governanceOverhead(stack: Stack, registry: ToolRegistry, label: string) {
  const client = stack.env.client;
  /** `count` jobs of each kind at once (one: its unloaded latency). */
  const bare = (count = SIZE.overheadJobs) =>
    burst(count, (i) =>
      client.workflow.start('bareWorkflow', {
        taskQueue: stack.taskQueue,
        workflowId: `bare-${label}-${randomUUID()}-${i}`,
        args: [STEPS],
      }),
    );
  const airlock = (count = SIZE.overheadJobs) =>
    burst(
      count,
      async (i) =>
        (
          await submitJob(client, benchJob(STEPS), {
            registry,
            taskQueue: stack.taskQueue,
            requester: 'bench',
            jobId: `bench-${label}-${randomUUID()}-${i}`,
          })
        ).handle,
    );
  await bare(); // warm-up: bundle load, caches, connections
  await airlock();
  // Unloaded latency: one job at a time, so the figure is Airlock's cost and not queueing on a saturated server.
  const sequential = { bare: [] as number[], airlock: [] as number[] };
  for (let i = 0; i < SIZE.sequentialJobs; i++) {
    sequential.bare.push((await bare(1)).latencies[0]);
    sequential.airlock.push((await airlock(1)).latencies[0]);
  }
  const rounds: { bare: Awaited<ReturnType<typeof bare>>; airlock: Awaited<ReturnType<typeof airlock>> }[] = [];
  for (let r = 0; r < SIZE.rounds; r++) rounds.push({ bare: await bare(), airlock: await airlock() });
  return { rounds, sequential };
}

/**
 * Airlock's API (with its Slack route) on a loopback port, for the approval and submission figures, with its own
 * client as `airlock serve` has it (src/client.ts).
 */
async function startApi(address: string, taskQueue: string, policy: PolicyStore, audit: AuditStore) {
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

async function waitFor(what: string, probe: () => boolean | Promise<boolean>, ms = 600_000) {
  const end = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > end) throw new Error(`benchmark check failed: timed out waiting for ${what}`);
    await sleep(20);
  }
}

async function main() {
  installTemporalLogger(createLogger('warn'), 'warn');
  const pg = await benchDatabase();
  const pgUrl = pg?.url;
  const audit = await AuditStore.open(openDatabase(pgUrl ?? 'memory:'));
  const policyFile = join(mkdtempSync(join(tmpdir(), 'airlock-bench-policy-')), 'policy.yaml');
  writeFileSync(policyFile, fiftyRulePolicy());
  const policy = new PolicyStore(policyFile);
  const registry = benchRegistry();
  console.log(
    `machine: ${cpus().length} cores (${cpus()[0]?.model}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB; audit store: ${pgUrl ? `PostgreSQL (${pgUrl.includes('host=/') ? 'Unix socket' : 'TCP'})` : 'PGlite (in memory)'}`,
  );
  console.log(`sizes: ${JSON.stringify(SIZE)}; worker tuning: ${JSON.stringify(TUNING)}\n`);

  // 5. Policy evaluation, in-process.
  if (want('5')) {
    const compiled = policy.current();
    const trivial = compilePolicy('version: 1\ndefault: { decision: allow }\n', 'trivial.yaml');
    const facts = actionFacts({
      action: 'bench.noop',
      risk: 'low',
      agent: 'bench-agent',
      caller: 'bench',
      context: { repo: 'app' },
      input: { i: 3 },
      cost: 0,
    });
    const time = (p: typeof compiled) => {
      const samples: number[] = [];
      for (let i = 0; i < SIZE.policyDecisions; i++) {
        const t = performance.now();
        const v = evaluatePolicy(p, facts);
        samples.push((performance.now() - t) * 1000);
        if (i === 0) check(v.outcome === 'allow', 'the 50-rule policy allows bench.noop');
      }
      return summarize(samples.slice(1000)); // after JIT warm-up
    };
    time(compiled);
    const fifty = time(compiled);
    const one = time(trivial);
    record(
      'policyEvaluation',
      { fiftyRulesMicros: fifty, oneRuleMicros: one, decisionsPerSecond: 1e6 / fifty.median },
      {
        figure: '5. policy decision, 50 rules (µs)',
        airlock: `median ${fifty.median.toFixed(1)}, p99 ${fifty.p99.toFixed(1)} (${Math.round(1e6 / fifty.median)}/s)`,
        baseline: `1 rule: median ${one.median.toFixed(1)}, p99 ${one.p99.toFixed(1)}`,
        ratio: `${(fifty.median / one.median).toFixed(1)}×`,
        target: 'p99 ≤ 50 µs',
        met: fifty.p99 <= 50,
      },
    );
  }

  // SQLite pragmas: the bare baseline with and without them.
  let plainBare: Summary | undefined;
  if (want('pragmas')) {
    const plain = await startStack({ pragmas: false, audit, policy });
    const { rounds: plainRounds } = await governanceOverhead(plain, registry, 'plain');
    const walFile = existsSync(`${plain.db}-wal`);
    await plain.stop();
    record('pragmasOff', {
      bareJobsPerSecond: plainRounds.map((r) => r.bare.perSecond),
      airlockJobsPerSecond: plainRounds.map((r) => r.airlock.perSecond),
      walFile,
    });
    plainBare = summarize(plainRounds.map((r) => r.bare.perSecond));
  }

  const stack = await startStack({ pragmas: true, audit, policy });
  try {
    check(existsSync(`${stack.db}-wal`), 'journal_mode=wal took effect (the -wal file exists)');
    // 1. Governance overhead.
    if (want('1') || want('pragmas')) {
      const { rounds, sequential } = await governanceOverhead(stack, registry, 'wal');
      const seqBare = summarize(sequential.bare);
      const seqAir = summarize(sequential.airlock);
      const bareTp = summarize(rounds.map((r) => r.bare.perSecond));
      const airTp = summarize(rounds.map((r) => r.airlock.perSecond));
      const bareLat = summarize(rounds.flatMap((r) => r.bare.latencies));
      const airLat = summarize(rounds.flatMap((r) => r.airlock.latencies));
      const perAction = (seqAir.median - seqBare.median) / STEPS;
      if (plainBare)
        record(
          'pragmas',
          { withoutPragmasBareJobsPerSecond: plainBare, withPragmasBareJobsPerSecond: bareTp },
          {
            figure: 'bare baseline, SQLite WAL+NORMAL vs default',
            airlock: `${bareTp.median.toFixed(1)} jobs/s (WAL file present)`,
            baseline: `${plainBare.median.toFixed(1)} jobs/s`,
            ratio: `${(bareTp.median / plainBare.median).toFixed(2)}×`,
            target: '—',
            met: null,
          },
        );
      record(
        'governanceOverhead',
        {
          bareJobsPerSecond: bareTp,
          airlockJobsPerSecond: airTp,
          loadedBareLatencyMs: bareLat,
          loadedAirlockLatencyMs: airLat,
          unloadedBareLatencyMs: seqBare,
          unloadedAirlockLatencyMs: seqAir,
          addedMsPerAction: perAction,
        },
        {
          figure: `1. jobs of ${STEPS} no-op actions (jobs/s)`,
          airlock: `median ${airTp.median.toFixed(1)} [${airTp.min.toFixed(1)}–${airTp.max.toFixed(1)}]`,
          baseline: `median ${bareTp.median.toFixed(1)} [${bareTp.min.toFixed(1)}–${bareTp.max.toFixed(1)}]`,
          ratio: `${(airTp.median / bareTp.median).toFixed(2)}×`,
          target: '≥ 0.8×',
          met: airTp.median / bareTp.median >= 0.8,
        },
      );
      rows.push({
        figure: '1. added latency per action (one job at a time)',
        airlock: `${ms(perAction)} (job p50 ${ms(seqAir.median)}, p99 ${ms(seqAir.p99)})`,
        baseline: `job p50 ${ms(seqBare.median)}, p99 ${ms(seqBare.p99)}`,
        ratio: `${(seqAir.median / seqBare.median).toFixed(2)}×`,
        target: '≤ 5 ms median',
        met: perAction <= 5,
      });
      // Where the throughput goes: everything shares this machine's cores, so CPU per job decides the ratio.
      const cpu = (side: 'bare' | 'airlock') => {
        const samples = rounds.map((r) => r[side].cpuMsPerJob).filter((c) => c !== undefined);
        if (!samples.length) return undefined;
        const med = (k: 'bench' | 'temporal' | 'postgres') => summarize(samples.map((c) => c[k])).median;
        return { bench: med('bench'), temporal: med('temporal'), postgres: med('postgres') };
      };
      const [cb, ca] = [cpu('bare'), cpu('airlock')];
      if (cb && ca) {
        const total = (c: typeof cb) => c.bench + c.temporal + c.postgres;
        const show = (c: typeof cb) =>
          `${total(c).toFixed(0)} ms = ${c.bench.toFixed(0)} worker+client, ${c.temporal.toFixed(0)} server, ${c.postgres.toFixed(0)} PostgreSQL`;
        record(
          'cpuPerJob',
          { bareMs: cb, airlockMs: ca },
          {
            figure: '1. CPU per job under load (median of rounds)',
            airlock: show(ca),
            baseline: show(cb),
            ratio: `${(total(ca) / total(cb)).toFixed(2)}×`,
            target: '—',
            met: null,
          },
        );
      }
    }

    // The API, in this process, for 2 and 4.
    const api = await startApi(stack.env.connection.options.address, stack.taskQueue, policy, audit);
    const base = api.base;
    try {
      // 2. Approval round trip.
      const approvalRtt = async (via: 'api' | 'slack' | 'bare') => {
        const samples: number[] = [];
        for (let i = 0; i < SIZE.approvals; i++) {
          const id = `rtt-${via}-${randomUUID()}`;
          if (via === 'bare') {
            const h = await stack.env.client.workflow.start('bareApprovalWorkflow', {
              taskQueue: stack.taskQueue,
              workflowId: id,
            });
            await waitFor('bare wait', async () => (await h.query<boolean>('waiting')) === true);
            const t0 = clock();
            await h.signal('approve');
            await h.result();
            samples.push((started.get(`${id}/bare`) ?? NaN) - t0);
            continue;
          }
          const { handle } = await submitJob(stack.env.client, benchJob(1, true), {
            registry,
            taskQueue: stack.taskQueue,
            requester: 'bench',
            jobId: id,
            attestationKeys: BENCH_ATTESTOR.publicKeys(),
          });
          const request = await (async () => {
            for (;;) {
              const s = await handle.query(jobStateQuery);
              const r = s.approvals.find((a) => a.status === 'pending');
              if (r) return r;
              await sleep(10);
            }
          })();
          const t0 = clock();
          let res: Response;
          if (via === 'api') {
            res = await fetch(`${base}/v1/approvals/${request.id}/decision`, {
              method: 'POST',
              headers: { authorization: `Bearer ${APPROVER_TOKEN}`, 'content-type': 'application/json' },
              body: JSON.stringify({ decision: 'approve', digest: request.inputDigest }),
            });
          } else {
            const payload = {
              type: 'block_actions',
              user: { id: 'U0ALICE01' },
              team: { id: 'T0' },
              api_app_id: 'A0',
              channel: { id: 'C0' },
              trigger_id: 't',
              actions: [
                {
                  type: 'button',
                  action_id: 'airlock_approve',
                  block_id: 'airlock_decision',
                  value: JSON.stringify({ requestId: request.id, digest: request.inputDigest }),
                  action_ts: '1',
                },
              ],
            };
            const body = `payload=${encodeURIComponent(JSON.stringify(payload))}`;
            const ts = String(Math.floor(Date.now() / 1000));
            res = await fetch(`${base}/slack/events`, {
              method: 'POST',
              body,
              headers: {
                'content-type': 'application/x-www-form-urlencoded',
                'x-slack-request-timestamp': ts,
                'x-slack-signature': slackSignature(SLACK_SECRET, ts, body),
              },
            });
          }
          check(res.ok, `approval via ${via} accepted (${res.status})`);
          await waitFor('the approved action to start', () => started.has(`${id}/s0`), 30_000);
          samples.push(started.get(`${id}/s0`)! - t0);
          await handle.result();
        }
        return summarize(samples);
      };
      if (want('2')) {
        const bareRtt = await approvalRtt('bare');
        const apiRtt = await approvalRtt('api');
        const slackRtt = await approvalRtt('slack');
        record('approvalRoundTrip', { apiMs: apiRtt, slackMs: slackRtt, bareSignalMs: bareRtt });
        for (const [name, s] of [
          ['API', apiRtt],
          ['signed Slack click', slackRtt],
        ] as const) {
          rows.push({
            figure: `2. approval → next activity, ${name}`,
            airlock: `p50 ${ms(s.median)}, p99 ${ms(s.p99)} [${ms(s.min)}–${ms(s.max)}]`,
            baseline: `signal → activity: p50 ${ms(bareRtt.median)}, p99 ${ms(bareRtt.p99)}`,
            ratio: `${(s.p99 / bareRtt.p99).toFixed(2)}× (p99)`,
            target: 'p99 ≤ 250 ms',
            met: s.p99 <= 250,
          });
        }
      }

      // 4. API submissions from a second process on loopback.
      /**
       * Runs the load generator: closed loop (most sustained) or, with `rate`, open loop at that offered rate. Jobs
       * (and the baseline's workflows) go to a task queue no worker polls: the figure is the submission path, API and
       * server, not the jobs' execution competing for the same 2 cores (that is figure 1).
       */
      const submitQueue = `bench-submit-${randomUUID().slice(0, 8)}`;
      const submitApi = await startApi(stack.env.connection.options.address, submitQueue, policy, audit);
      const load = (mode: 'distinct' | 'duplicate' | 'temporal', rate?: number) =>
        new Promise<{ ok: number; errors: number; latencies: number[]; seconds: number; ids: number }>(
          (resolve, reject) => {
            const child = spawn(process.execPath, ['-r', 'tsx/cjs', join(__dirname, 'load.ts')], {
              env: {
                ...process.env,
                MODE: mode,
                BASE: submitApi.base,
                TOKEN: CALLER_TOKEN,
                SECONDS: String(SIZE.apiSeconds),
                CONCURRENCY: String(SIZE.apiConcurrency),
                ...(rate ? { RATE: String(rate) } : {}),
                ADDRESS: stack.env.connection.options.address,
                TASK_QUEUE: submitQueue,
              },
              stdio: ['ignore', 'pipe', 'inherit'],
            });
            let out = '';
            child.stdout.on('data', (c) => (out += c));
            child.on('exit', (code) =>
              code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`load generator (${mode}) exited ${code}`)),
            );
          },
        );
      if (want('4')) {
        const TARGET_RATE = 200;
        const perSecond = (r: { ok: number; seconds: number }) => r.ok / r.seconds;
        const data: Record<string, unknown> = {};
        // Each load starts once the jobs of the one before have run: it measures submissions, not a backlog draining.
        const drained = () =>
          waitFor('the submitted jobs to finish', async () => {
            const running = await stack.env.client.workflow.count(
              `TaskQueue = '${stack.taskQueue}' AND ExecutionStatus = 'Running'`,
            );
            return Number(running.count) === 0;
          });
        const measure = async (mode: 'distinct' | 'duplicate' | 'temporal', offered?: number) => {
          await drained();
          await sleep(3000);
          return load(mode, offered);
        };
        for (const [name, offered] of [
          ['most sustained', undefined],
          [`${TARGET_RATE}/s offered`, TARGET_RATE],
        ] as const) {
          // Duplicates first, while the server is quiet: after thousands of starts it still has their bookkeeping
          // (transfer and visibility tasks) to do for a while, which is not the read path being measured.
          const duplicate = await measure('duplicate', offered);
          const bareStart = await measure('temporal', offered);
          const distinct = await measure('distinct', offered);
          check(distinct.errors === 0, `every distinct submission answered 201 (${distinct.errors} did not)`);
          check(
            duplicate.errors === 0 && duplicate.ids === 1,
            `every duplicate answered with the original job (${duplicate.errors} errors, ${duplicate.ids} distinct ids)`,
          );
          const [d, dup, t] = [distinct, duplicate, bareStart].map((r) => summarize(r.latencies));
          data[offered ? 'openLoop' : 'closedLoop'] = {
            offeredPerSecond: offered ?? null,
            inFlight: offered ? null : SIZE.apiConcurrency,
            distinct: { perSecond: perSecond(distinct), latencyMs: d },
            duplicate: { perSecond: perSecond(duplicate), latencyMs: dup },
            bareTemporalStart: { perSecond: perSecond(bareStart), latencyMs: t },
          };
          const how = offered ? `${name} (open loop)` : `${name} (${SIZE.apiConcurrency} in flight)`;
          // Open loop: met when it keeps up with the offered rate within the latency target.
          const met = (r: typeof distinct, s: Summary) =>
            offered ? perSecond(r) >= 0.97 * offered && s.p99 <= 100 : perSecond(r) >= TARGET_RATE;
          for (const [kind, r, s] of [
            ['distinct keys', distinct, d],
            ['duplicates', duplicate, dup],
          ] as const) {
            rows.push({
              figure: `4. POST /v1/jobs, ${kind}, ${how}`,
              airlock: `${perSecond(r).toFixed(0)}/s, p50 ${ms(s.median)}, p99 ${ms(s.p99)}${kind === 'duplicates' ? ', all → original job' : ''}`,
              baseline: `workflow.start: ${perSecond(bareStart).toFixed(0)}/s, p99 ${ms(t.p99)}`,
              ratio: `${(perSecond(r) / perSecond(bareStart)).toFixed(2)}×`,
              target: offered ? 'p99 ≤ 100 ms' : `≥ ${TARGET_RATE}/s`,
              met: met(r, s),
            });
          }
        }
        record('apiSubmissions', data);
      }
      await submitApi.close();
    } finally {
      await api.close();
    }
  } finally {
    await stack.stop();
  }
  try {
    // 3. Many waiting jobs: on servers and workers of their own, after the rest has stopped.
    if (want('3')) {
      const waiting = await manyWaiting(registry, policyFile, pgUrl ?? 'memory:', audit);
      record('manyWaiting', waiting.data);
      rows.push(...waiting.rows);
    }
  } finally {
    await audit.db.close();
    await pg?.drop();
  }
  console.log('');
  printTable();
  const file = writeResults(
    join(__dirname, 'results'),
    {
      at: new Date().toISOString(),
      cores: cpus().length,
      cpu: cpus()[0]?.model,
      memGiB: totalmem() / 2 ** 30,
      sizes: SIZE,
      tuning: TUNING,
      only: ONLY ?? 'all',
    },
    !ONLY,
  );
  console.log(`\nresults: ${file}`);
}

/** A bench worker in a process of its own (bench/worker.ts), so its memory is measured alone. */
async function spawnBenchWorker(address: string, taskQueue: string, policyFile: string, auditUrl: string) {
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
async function backlog(client: Client, taskQueue: string): Promise<number> {
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

/**
 * 3. N jobs paused on approval at once: the worker's RSS, and random approvals resolved among them. Baseline: N bare
 * workflows waiting on a signal. Each side gets a fresh dev server (same pragmas) and a worker process of its own
 * with the same tuning, so neither measures the other's leftovers.
 */
async function manyWaiting(registry: ToolRegistry, policyFile: string, auditUrl: string, audit: AuditStore) {
  const n = SIZE.waiting;
  const side = async (kind: 'bare' | 'airlock') => {
    const server = await startDevServer({
      dbFilename: join(mkdtempSync(join(tmpdir(), 'airlock-bench-wait-')), 'temporal.sqlite'),
      extraArgs: PRAGMAS,
    });
    const client: Client = server.client;
    const taskQueue = `wait-${kind}-${randomUUID().slice(0, 8)}`;
    const worker = await spawnBenchWorker(server.connection.options.address, taskQueue, policyFile, auditUrl);
    const api =
      kind === 'airlock'
        ? await startApi(server.connection.options.address, taskQueue, new PolicyStore(policyFile), audit)
        : undefined;
    try {
      const idleRss = await worker.rss();
      const ids = Array.from({ length: n }, (_, i) => `wait-${kind}-${randomUUID()}-${i}`);
      const start = (id: string) =>
        kind === 'bare'
          ? client.workflow.start('bareApprovalWorkflow', { taskQueue, workflowId: id })
          : submitJob(client, benchJob(1, true), { registry, taskQueue, requester: 'bench', jobId: id });
      const t0 = performance.now();
      for (let i = 0; i < n; i += 100) {
        await Promise.all(ids.slice(i, i + 100).map(start));
        // Backpressure: a SQLite dev server flooded with thousands of queued tasks misses its own deadlines
        // (`context deadline exceeded` on transfer tasks), which would measure the flood, not waiting jobs.
        await waitFor('the server backlog to drain', async () => (await backlog(client, taskQueue)) < 200, 1_800_000);
      }
      const waitingQuery =
        kind === 'bare'
          ? `WorkflowType = 'bareApprovalWorkflow' AND ExecutionStatus = 'Running'`
          : `WorkflowType = 'jobWorkflow' AND AirlockStatus = 'awaiting_approval'`;
      await waitFor(
        `${n} ${kind} workflows waiting`,
        async () => Number((await client.workflow.count(waitingQuery)).count) >= n,
        1_800_000,
      );
      await waitFor('the server backlog to drain', async () => (await backlog(client, taskQueue)) === 0, 1_800_000);
      const startSeconds = (performance.now() - t0) / 1000;
      await sleep(3000);
      const rss = await worker.rss();
      const resolve: number[] = [];
      for (let k = 0; k < SIZE.waitingResolve; k++) {
        const id = ids[Math.floor(Math.random() * n)];
        const key = kind === 'bare' ? `${id}/bare` : `${id}/s0`;
        if (started.has(key)) continue;
        const t = clock();
        if (kind === 'bare') {
          await client.workflow.getHandle(id).signal('approve');
        } else {
          const res = await fetch(`${api!.base}/v1/approvals/${id}:s0/decision`, {
            method: 'POST',
            headers: { authorization: `Bearer ${APPROVER_TOKEN}`, 'content-type': 'application/json' },
            body: '{"decision":"approve"}',
          });
          check(res.ok, `approval of a waiting job accepted (${res.status})`);
        }
        // A server past its limit is a result, not a crash: count resumes slower than the cut-off.
        const resumed = await waitFor('resume', () => started.has(key), RESUME_CUTOFF_MS).then(
          () => true,
          () => false,
        );
        resolve.push(resumed ? started.get(key)! - t : Infinity);
      }
      return { idleRss, rss, startSeconds, resolve };
    } finally {
      await api?.close();
      await worker.stop();
      await server.teardown();
    }
  };
  const bare = await side('bare');
  const air = await side('airlock');
  const r = summarize(air.resolve);
  const b = summarize(bare.resolve);
  const slow = (xs: number[]) => xs.filter((x) => x === Infinity).length;
  const note = (xs: number[]) => (slow(xs) ? ` (${slow(xs)} of ${xs.length} > ${RESUME_CUTOFF_MS / 1000} s)` : '');
  const mb = (x: number) => `${(x / 2 ** 20).toFixed(0)} MB`;
  return {
    data: {
      n,
      workerRssBytes: {
        bare: { idle: bare.idleRss, waiting: bare.rss },
        airlock: { idle: air.idleRss, waiting: air.rss },
      },
      secondsUntilAllWaiting: { bare: bare.startSeconds, airlock: air.startSeconds },
      resolveMs: r,
      bareResolveMs: b,
    },
    rows: [
      {
        figure: `3. worker RSS with ${n} jobs waiting`,
        airlock: `${mb(air.rss)} (idle: ${mb(air.idleRss)})`,
        baseline: `${mb(bare.rss)} with ${n} bare waiting (idle: ${mb(bare.idleRss)})`,
        ratio: `${(air.rss / bare.rss).toFixed(2)}×`,
        target: '≤ 1 GB',
        met: air.rss <= 2 ** 30,
      },
      {
        figure: `3. approval → resume among ${n} waiting`,
        airlock: `p50 ${ms(r.median)}, p99 ${ms(r.p99)}${note(air.resolve)}`,
        baseline: `signal → resume: p50 ${ms(b.median)}, p99 ${ms(b.p99)}${note(bare.resolve)}`,
        ratio: `${(r.p99 / b.p99).toFixed(2)}× (p99)`,
        target: 'p99 ≤ 1 s',
        met: r.p99 <= 1000,
      },
    ],
  };
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
