/**
 * The load generator for figure 4, run as a second process on loopback: POST /v1/jobs with distinct keys or one
 * duplicated key, or (the baseline) bare `workflow.start` calls, for SECONDS. Closed loop (CONCURRENCY in flight:
 * the most it sustains) or, with RATE, open loop: requests sent on a fixed schedule whether or not earlier ones have
 * answered, latency counted from the scheduled time (so a stall is not hidden). Prints JSON.
 */
import { randomUUID } from 'node:crypto';
import { Client } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';

const { MODE, BASE, TOKEN, ADDRESS, TASK_QUEUE } = process.env;
const SECONDS = Number(process.env.SECONDS ?? 10);
const CONCURRENCY = Number(process.env.CONCURRENCY ?? 16);
const RATE = process.env.RATE ? Number(process.env.RATE) : undefined;
const job = { agent: 'bench-agent', title: 'load', steps: [{ id: 's0', action: 'bench.noop', input: { i: 0 } }] };

async function main() {
  const client =
    MODE === 'temporal' ? new Client({ connection: await NativeConnection.connect({ address: ADDRESS! }) }) : undefined;
  const dupKey = `dup-${randomUUID()}`;
  const latencies: number[] = [];
  const ids = new Set<string>();
  let ok = 0;
  let errors = 0;
  const end = performance.now() + SECONDS * 1000;
  const one = async (t = performance.now()) => {
    if (client) {
      await client.workflow.start('bareWorkflow', {
        taskQueue: TASK_QUEUE!,
        workflowId: `load-${randomUUID()}`,
        args: [1],
      });
      ok++;
    } else {
      const res = await fetch(`${BASE}/v1/jobs`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${TOKEN}`,
          'content-type': 'application/json',
          'idempotency-key': MODE === 'duplicate' ? dupKey : randomUUID(),
        },
        body: JSON.stringify(job),
      });
      const body = (await res.json()) as { id?: string };
      const good = MODE === 'duplicate' ? res.status === 200 || res.status === 201 : res.status === 201;
      if (good && body.id) {
        ok++;
        ids.add(body.id);
      } else errors++;
    }
    latencies.push(performance.now() - t);
  };
  const t0 = performance.now();
  if (RATE) {
    const inFlight: Promise<void>[] = [];
    for (let i = 0; i < RATE * SECONDS; i++) {
      const at = t0 + (i * 1000) / RATE;
      const wait = at - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      inFlight.push(one(at));
    }
    await Promise.all(inFlight);
  } else {
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (performance.now() < end) await one();
      }),
    );
  }
  const seconds = (performance.now() - t0) / 1000;
  process.stdout.write(JSON.stringify({ ok, errors, latencies, seconds, ids: ids.size }));
  await client?.connection.close();
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
