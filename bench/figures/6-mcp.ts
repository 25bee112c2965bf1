/**
 * Figure 6: what governing an MCP tool call costs. The same upstream tool (the stdio test server's `add`) called by an
 * SDK client directly over stdio, vs. through Airlock's /mcp as the governed tool `calc.add`: an update on the
 * session workflow, the policy decided in the action's activity, audit events written, the upstream called by the
 * worker through its own stdio connection. One call at a time (latency, not throughput), after a warm-up. Recorded
 * beside it: the floor (a bare workflow's update running one no-op activity, on the same worker) and the worker-side
 * phases of the governed calls from the session's history.
 */
import { randomUUID } from 'node:crypto';
import { WorkflowUpdateStage, type Client } from '@temporalio/client';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client as McpClient } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { composeAirlock } from '../../src/compose';
import { loadConfig } from '../../src/config';
import { Directory, hashToken } from '../../src/people';
import { PolicyStore } from '../../src/policy/store';
import { BENCH_ATTESTOR, benchRegistry } from '../airlock';
import { type Harness, SIZE } from '../harness';
import { check, ms, record, rows, summarize } from '../lib';
import { bareActivities } from '../noop-tool';
import { bareCallUpdate, type bareSessionWorkflow } from '../workflows/bare';

const AGENT_TOKEN = 'bench-agent-token';
const upstreamServer = join(__dirname, '..', '..', 'test', 'fixtures', 'upstream-mcp.mjs');

/** `count` sequential calls, after `warmup` unmeasured ones; each checked. Returns the latencies in ms. */
async function time(count: number, warmup: number, call: (i: number) => Promise<unknown>) {
  const latencies: number[] = [];
  for (let i = 0; i < warmup + count; i++) {
    const t = performance.now();
    await call(i);
    if (i >= warmup) latencies.push(performance.now() - t);
  }
  return latencies;
}

/** Figure 6: records `mcpToolCall`; fails if a call's result is wrong. */
export async function mcpLatency(h: Harness) {
  const stack = await h.stack();
  const dir = mkdtempSync(join(tmpdir(), 'airlock-bench-mcp-'));
  const upstreams = join(dir, 'upstreams.yaml');
  writeFileSync(
    upstreams,
    `servers:\n  calc:\n    command: ${process.execPath}\n    args: [${upstreamServer}]\n    risk: low\n`,
  );
  const policyFile = join(dir, 'policy.yaml');
  writeFileSync(
    policyFile,
    `version: 1\ndefault: { decision: deny }\nrules:\n  - { id: calc, match: { action: 'calc.*', agent: bench-mcp }, decision: allow }\n`,
  );
  const taskQueue = `bench-mcp-${randomUUID().slice(0, 8)}`;
  const airlock = await composeAirlock({
    config: loadConfig({
      AIRLOCK_TASK_QUEUE: taskQueue,
      AIRLOCK_MCP_UPSTREAMS: upstreams,
      AIRLOCK_RATE_LIMIT_PER_MINUTE: '10000000',
      AIRLOCK_LOG_LEVEL: 'silent',
    }),
    client: stack.env.client,
    registry: benchRegistry(),
    deps: { http: { allowedHosts: [] }, shell: { allowedRoots: [] }, secret: () => undefined },
    policy: new PolicyStore(policyFile),
    audit: h.audit,
    attestor: BENCH_ATTESTOR,
    directory: new Directory({
      people: {},
      callers: {},
      agents: {
        'bench-mcp': {
          tokenSha256: hashToken(AGENT_TOKEN),
          caller: 'mcp',
          context: {},
          budget: {},
          idleTimeout: 600_000,
        },
      },
    }),
  });
  const worker = await airlock.worker({
    connection: stack.env.nativeConnection,
    workflowsPath: require.resolve('../workflows'),
    extraActivities: bareActivities,
  });
  const running = worker.run();
  const api = await airlock.api();
  const base = await api.listen({ host: '127.0.0.1', port: 0 });

  const direct = new McpClient({ name: 'bench-direct', version: '1' });
  await direct.connect(
    new StdioClientTransport({ command: process.execPath, args: [upstreamServer], stderr: 'ignore' }),
  );
  const governed = new McpClient({ name: 'bench-agent', version: '1' });
  const transport = new StreamableHTTPClientTransport(new URL(`${base}/mcp`), {
    requestInit: { headers: { authorization: `Bearer ${AGENT_TOKEN}` } },
  });
  await governed.connect(transport);
  try {
    const n = SIZE.mcpCalls;
    const warmup = Math.min(20, n);
    const directMs = await time(n, warmup, async (i) => {
      const r = await direct.callTool({ name: 'add', arguments: { a: i, b: 1 } });
      check((r.structuredContent as { sum: number }).sum === i + 1, 'a direct call answered the sum');
    });
    const governedMs = await time(n, warmup, async (i) => {
      const r = await governed.callTool({ name: 'calc.add', arguments: { a: i, b: 1 } });
      const s = r.structuredContent as { status: string; output: { sum: number } };
      check(s.status === 'succeeded' && s.output.sum === i + 1, `governed call ${i} succeeded with the sum`);
    });
    const d = summarize(directMs);
    const g = summarize(governedMs);
    const floor = await bareUpdateFloor(stack.env.client, taskQueue, n, warmup);
    const phases = await updatePhases(stack.env.client, transport.sessionId!, warmup);
    record('mcpToolCall', {
      calls: n,
      directMs: d,
      governedMs: g,
      addedMs: { p50: g.median - d.median, p99: g.p99 - d.p99 },
      floor,
      phases,
    });
    rows.push({
      figure: '6. MCP tool call, p50 / p99 (added)',
      airlock: `${ms(g.median)} / ${ms(g.p99)}`,
      baseline: `${ms(d.median)} / ${ms(d.p99)} direct`,
      ratio: `+${ms(g.median - d.median)} / +${ms(g.p99 - d.p99)}`,
      target: '—',
      met: null,
    });
  } finally {
    await transport.terminateSession().catch(() => undefined);
    await governed.close();
    await direct.close();
    await api.close();
    worker.shutdown();
    await running;
    await airlock.close();
  }
}

/**
 * The floor under a governed call: a bare workflow's update that runs one no-op activity, on the same worker, sent as
 * one executeUpdate RPC and as the MCP route sends calls (startUpdate until accepted, then the result).
 */
async function bareUpdateFloor(client: Client, taskQueue: string, n: number, warmup: number) {
  const handle = await client.workflow.start<typeof bareSessionWorkflow>('bareSessionWorkflow', {
    workflowId: `bare-session-${randomUUID()}`,
    taskQueue,
  });
  try {
    const execute = await time(n, warmup, async (i) => {
      check((await handle.executeUpdate(bareCallUpdate, { args: [{ i }] })) !== undefined, 'a bare update answered');
    });
    const acceptedThenResult = await time(n, warmup, async (i) => {
      const u = await handle.startUpdate(bareCallUpdate, {
        args: [{ i }],
        waitForStage: WorkflowUpdateStage.ACCEPTED,
      });
      check((await u.result()) !== undefined, 'a bare update answered');
    });
    return {
      executeUpdate: summarize(execute),
      acceptedThenResult: summarize(acceptedThenResult),
      phases: await updatePhases(client, handle.workflowId, warmup),
    };
  } finally {
    await handle.terminate();
  }
}

/**
 * Median phases of a workflow's updates (the session's calls; the floor's, both ways of sending them) from its history
 * (server timestamps, ms): where the time between the update reaching the server and its result goes. The update's
 * workflow task is the one before its acceptance; the second, the one after its activity.
 */
async function updatePhases(client: Client, workflowId: string, warmup: number) {
  const events = (await client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
  const at = (e: (typeof events)[number]) =>
    Number(e.eventTime!.seconds) * 1000 + Math.round(e.eventTime!.nanos! / 1e6);
  const calls: Record<string, number>[] = [];
  const bySchedule = new Map<string, Record<string, number>>();
  const byUpdate = new Map<string, Record<string, number>>();
  let current: Record<string, number> | undefined;
  let taskScheduled = 0;
  for (const e of events) {
    if (e.workflowTaskScheduledEventAttributes) taskScheduled = at(e);
    const accepted = e.workflowExecutionUpdateAcceptedEventAttributes;
    if (accepted) {
      current = { arrived: taskScheduled, accepted: at(e) };
      byUpdate.set(accepted.protocolInstanceId ?? '', current);
      calls.push(current);
    }
    if (e.activityTaskScheduledEventAttributes && current) {
      current.scheduled = at(e);
      bySchedule.set(String(e.eventId), current);
    }
    if (e.workflowTaskStartedEventAttributes && current?.completed !== undefined && current.wftStarted === undefined)
      current.wftStarted = at(e);
    const started = e.activityTaskStartedEventAttributes;
    if (started) bySchedule.get(String(started.scheduledEventId))!.started = at(e);
    const completed = e.activityTaskCompletedEventAttributes;
    if (completed) bySchedule.get(String(completed.scheduledEventId))!.completed = at(e);
    const done = e.workflowExecutionUpdateCompletedEventAttributes;
    if (done) byUpdate.get(done.meta?.updateId ?? '')!.updateCompleted = at(e);
  }
  const measured = calls.slice(warmup).filter((c) => c.updateCompleted !== undefined);
  const median = (f: (c: Record<string, number>) => number) => summarize(measured.map(f)).median;
  return {
    calls: measured.length,
    arrivedToAccepted: median((c) => c.accepted - c.arrived),
    acceptedToScheduled: median((c) => c.scheduled - c.accepted),
    scheduledToStarted: median((c) => c.started - c.scheduled),
    activity: median((c) => c.completed - c.started),
    completedToUpdateCompleted: median((c) => c.updateCompleted - c.completed),
    completedToTaskStarted: median((c) => c.wftStarted - c.completed),
    acceptedToUpdateCompleted: median((c) => c.updateCompleted - c.accepted),
  };
}
