/**
 * Figure 4: POST /v1/jobs from a second process on loopback (bench/load.ts), distinct keys and duplicates of one key,
 * vs. bare `workflow.start` from that process; closed loop (most sustained) and open loop (a fixed offered rate).
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { CALLER_TOKEN } from '../airlock';
import { type Harness, SERVER_LABEL, type ServerKind, SIZE, startApi, waitFor } from '../harness';
import { check, ms, record, rows, sleep, summarize, type Summary } from '../lib';

type Mode = 'distinct' | 'duplicate' | 'temporal';
interface Load {
  ok: number;
  errors: number;
  latencies: number[];
  seconds: number;
  ids: number;
}

const TARGET_RATE = 200;

/**
 * Figure 4 on a server of `kind`: records `apiSubmissions` (`apiSubmissionsCluster` on the cluster); fails if a
 * distinct submission was refused or a duplicate not deduplicated.
 */
export async function apiSubmissions(h: Harness, kind: ServerKind) {
  const stack = await h.stack(kind);
  const address = stack.env.connection.options.address;
  /**
   * Jobs (and the baseline's workflows) go to a task queue no worker polls: the figure is the submission path, API and
   * server, not the jobs' execution competing for the same 2 cores (that is figure 1).
   */
  const submitQueue = `bench-submit-${randomUUID().slice(0, 8)}`;
  const submitApi = await startApi(address, submitQueue, h.policy, h.audit);
  /** Runs the load generator: closed loop (most sustained) or, with `rate`, open loop at that offered rate. */
  const load = (mode: Mode, rate?: number) =>
    new Promise<Load>((resolve, reject) => {
      const child = spawn(process.execPath, ['-r', 'tsx/cjs', join(__dirname, '..', 'load.ts')], {
        env: {
          ...process.env,
          MODE: mode,
          BASE: submitApi.base,
          TOKEN: CALLER_TOKEN,
          SECONDS: String(SIZE.apiSeconds),
          CONCURRENCY: String(SIZE.apiConcurrency),
          ...(rate ? { RATE: String(rate) } : {}),
          ADDRESS: address,
          TASK_QUEUE: submitQueue,
        },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let out = '';
      child.stdout.on('data', (c) => (out += c));
      child.on('exit', (code) =>
        code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`load generator (${mode}) exited ${code}`)),
      );
    });
  try {
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
    const measure = async (mode: Mode, offered?: number) => {
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
      const met = (r: Load, s: Summary) =>
        offered ? perSecond(r) >= 0.97 * offered && s.p99 <= 100 : perSecond(r) >= TARGET_RATE;
      for (const [what, r, s] of [
        ['distinct keys', distinct, d],
        ['duplicates', duplicate, dup],
      ] as const) {
        rows.push({
          figure: `4. POST /v1/jobs, ${what}, ${how}, ${SERVER_LABEL[kind]}`,
          airlock: `${perSecond(r).toFixed(0)}/s, p50 ${ms(s.median)}, p99 ${ms(s.p99)}${what === 'duplicates' ? ', all → original job' : ''}`,
          baseline: `workflow.start: ${perSecond(bareStart).toFixed(0)}/s, p99 ${ms(t.p99)}`,
          ratio: `${(perSecond(r) / perSecond(bareStart)).toFixed(2)}×`,
          target: offered ? 'p99 ≤ 100 ms' : `≥ ${TARGET_RATE}/s`,
          met: met(r, s),
        });
      }
    }
    record(kind === 'dev' ? 'apiSubmissions' : 'apiSubmissionsCluster', data);
  } finally {
    await submitApi.close();
  }
}
