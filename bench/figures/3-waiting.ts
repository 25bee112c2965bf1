/**
 * Figure 3: N jobs paused on approval at once: the worker's RSS, and random approvals resolved among them. Baseline: N
 * bare workflows waiting on a signal. Each side gets a fresh dev server (same pragmas) and a worker process of its own
 * with the same tuning, so neither measures the other's leftovers; the shared stack stops first.
 */
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { PolicyStore } from '../../src/policy/store';
import {
  approveViaApi,
  backlog,
  benchJob,
  type Harness,
  SERVER_LABEL,
  type ServerKind,
  SIZE,
  spawnBenchWorker,
  startApi,
  startBenchServer,
  submitBenchJob,
  waitFor,
} from '../harness';
import { check, ms, record, rows, sleep, summarize } from '../lib';
import { clock, started } from '../noop-tool';

/** A resume slower than this is counted as such (a server past its limit is a result, not a crash). */
const RESUME_CUTOFF_MS = 120_000;

/** N waiting workflows of one kind on a fresh server and worker process: RSS idle and waiting, resume latencies. */
async function side(h: Harness, kind: 'bare' | 'airlock', on: ServerKind, n: number) {
  const server = await startBenchServer(on);
  const client: Client = server.client;
  const taskQueue = `wait-${kind}-${randomUUID().slice(0, 8)}`;
  const worker = await spawnBenchWorker(server.connection.options.address, taskQueue, h.policyFile, h.auditUrl);
  const api =
    kind === 'airlock'
      ? await startApi(server.connection.options.address, taskQueue, new PolicyStore(h.policyFile), h.audit)
      : undefined;
  try {
    const idleRss = await worker.rss();
    const ids = Array.from({ length: n }, (_, i) => `wait-${kind}-${randomUUID()}-${i}`);
    const start = (id: string) =>
      kind === 'bare'
        ? client.workflow.start('bareApprovalWorkflow', { taskQueue, workflowId: id })
        : submitBenchJob(client, h.registry, taskQueue, id, benchJob(1, true));
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
        const res = await approveViaApi(api!.base, `${id}:s0`);
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
}

/** Figure 3 on fresh servers of kind `on`, bare side first: records `manyWaiting` (`manyWaitingCluster`). */
export async function manyWaiting(h: Harness, on: ServerKind) {
  await h.stopStack();
  const n = on === 'dev' ? SIZE.waiting : SIZE.waitingCluster;
  const bare = await side(h, 'bare', on, n);
  const air = await side(h, 'airlock', on, n);
  const r = summarize(air.resolve);
  const b = summarize(bare.resolve);
  const slow = (xs: number[]) => xs.filter((x) => x === Infinity).length;
  const note = (xs: number[]) => (slow(xs) ? ` (${slow(xs)} of ${xs.length} > ${RESUME_CUTOFF_MS / 1000} s)` : '');
  const mb = (x: number) => `${(x / 2 ** 20).toFixed(0)} MB`;
  record(on === 'dev' ? 'manyWaiting' : 'manyWaitingCluster', {
    n,
    workerRssBytes: {
      bare: { idle: bare.idleRss, waiting: bare.rss },
      airlock: { idle: air.idleRss, waiting: air.rss },
    },
    secondsUntilAllWaiting: { bare: bare.startSeconds, airlock: air.startSeconds },
    resolveMs: r,
    bareResolveMs: b,
  });
  rows.push(
    {
      figure: `3. worker RSS with ${n} jobs waiting, ${SERVER_LABEL[on]}`,
      airlock: `${mb(air.rss)} (idle: ${mb(air.idleRss)})`,
      baseline: `${mb(bare.rss)} with ${n} bare waiting (idle: ${mb(bare.idleRss)})`,
      ratio: `${(air.rss / bare.rss).toFixed(2)}×`,
      target: '≤ 1 GB',
      met: air.rss <= 2 ** 30,
    },
    {
      figure: `3. approval → resume among ${n} waiting, ${SERVER_LABEL[on]}`,
      airlock: `p50 ${ms(r.median)}, p99 ${ms(r.p99)}${note(air.resolve)}`,
      baseline: `signal → resume: p50 ${ms(b.median)}, p99 ${ms(b.p99)}${note(bare.resolve)}`,
      ratio: `${(r.p99 / b.p99).toFixed(2)}× (p99)`,
      target: 'p99 ≤ 1 s',
      met: r.p99 <= 1000,
    },
  );
}
