/**
 * Figure 1: what governance costs. Jobs of STEPS no-op actions through Airlock vs. the same activities in a bare
 * Temporal workflow, on the shared stack: throughput under load, added latency one job at a time, CPU per job. With
 * BENCH_ONLY including `pragmas`, first the same on a server without the SQLite pragmas (the bare baseline's gain).
 */
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import {
  burst,
  benchJob,
  type Harness,
  SERVER_LABEL,
  type ServerKind,
  SIZE,
  STEPS,
  type Stack,
  startStack,
  submitBenchJob,
  want,
} from '../harness';
import { ms, record, rows, summarize, type Summary } from '../lib';

/** Bursts of bare and Airlock jobs after a warm-up: SIZE.rounds loaded rounds and SIZE.sequentialJobs one at a time. */
async function measure(h: Harness, stack: Stack, label: string) {
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
    burst(count, (i) =>
      submitBenchJob(client, h.registry, stack.taskQueue, `bench-${label}-${randomUUID()}-${i}`, benchJob(STEPS)),
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

/** The bare baseline on a dev server without the SQLite pragmas (records `pragmasOff`). */
async function withoutPragmas(h: Harness): Promise<Summary> {
  const plain = await startStack({ kind: 'dev', pragmas: false, audit: h.audit, policy: h.policy });
  const { rounds, walFile } = await measure(h, plain, 'plain')
    .then((m) => ({ ...m, walFile: existsSync(`${plain.env.db}-wal`) }))
    .finally(plain.stop);
  record('pragmasOff', {
    bareJobsPerSecond: rounds.map((r) => r.bare.perSecond),
    airlockJobsPerSecond: rounds.map((r) => r.airlock.perSecond),
    walFile,
  });
  return summarize(rounds.map((r) => r.bare.perSecond));
}

/**
 * Figure 1 on a server of `kind` (and on the dev server, when selected, the `pragmas` comparison): records
 * `governanceOverhead` and `cpuPerJob`, suffixed `Cluster` on the cluster.
 */
export async function governanceOverhead(h: Harness, kind: ServerKind) {
  const plainBare = kind === 'dev' && want('pragmas') ? await withoutPragmas(h) : undefined;
  const { rounds, sequential } = await measure(h, await h.stack(kind), kind);
  const key = (name: string) => (kind === 'dev' ? name : `${name}Cluster`);
  const on = `, ${SERVER_LABEL[kind]}`;
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
    key('governanceOverhead'),
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
      figure: `1. jobs of ${STEPS} no-op actions (jobs/s)${on}`,
      airlock: `median ${airTp.median.toFixed(1)} [${airTp.min.toFixed(1)}–${airTp.max.toFixed(1)}]`,
      baseline: `median ${bareTp.median.toFixed(1)} [${bareTp.min.toFixed(1)}–${bareTp.max.toFixed(1)}]`,
      ratio: `${(airTp.median / bareTp.median).toFixed(2)}×`,
      target: '≥ 0.8×',
      met: airTp.median / bareTp.median >= 0.8,
    },
  );
  rows.push({
    figure: `1. added latency per action (one job at a time)${on}`,
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
      key('cpuPerJob'),
      { bareMs: cb, airlockMs: ca },
      {
        figure: `1. CPU per job under load (median of rounds)${on}`,
        airlock: show(ca),
        baseline: show(cb),
        ratio: `${(total(ca) / total(cb)).toFixed(2)}×`,
        target: '—',
        met: null,
      },
    );
  }
}
