/**
 * An agent's MCP tool call survives the worker: the official SDK client calls a governed tool through the API, the
 * worker process is SIGKILLed while the action is in flight, a new worker takes over, and the agent's call (and its
 * retry with the same call id) ends with the result while the side effect happened exactly once.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { builtinTools, ToolRegistry } from '../../activities';
import type { ToolDefinition } from '../../activities/tool';
import { openDatabase } from '../../src/audit/db';
import { AuditStore } from '../../src/audit/store';
import type { Airlock } from '../../src/compose';
import { fixture, testAirlock, uniqueId, useTemporalServer } from '../helpers/temporal';
import { usePostgresDatabase } from '../helpers/postgres';
import { eventually } from '../helpers/wait';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process';

const temporal = useTemporalServer();
// The API (here) and two worker processes (one killed mid-action) share the audit trail: a real PostgreSQL database.
const pg = usePostgresDatabase();
const dir = mkdtempSync(join(tmpdir(), 'airlock-mcp-crash-'));
const policyFile = join(dir, 'policy.yaml');
writeFileSync(
  policyFile,
  `version: 1\ndefault: { decision: deny }\nrules:\n  - { id: payments, match: { action: http.request, agent: deploy-bot }, decision: allow }\n`,
);
const workers: WorkerProcess[] = [];
let airlock: Airlock | undefined;
let app: Awaited<ReturnType<Airlock['api']>> | undefined;
let audit: AuditStore | undefined;
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.kill()));
  await app?.close();
  await airlock?.close();
  await audit?.db.close();
});

/** The built-in tools with short timeouts, so a dead worker is noticed in seconds instead of minutes. */
function fastRegistry(): ToolRegistry {
  return new ToolRegistry(
    builtinTools.map((t): ToolDefinition => ({
      ...t,
      timeouts: { startToCloseMs: 4_000, heartbeatMs: t.timeouts?.heartbeatMs ? 2_000 : undefined },
    })),
  );
}

test('worker SIGKILLed while an MCP call acts: a new worker finishes it, the call answers the result, one charge', async () => {
  // A payment API that deduplicates by Idempotency-Key (as Stripe does), applies the charge on receipt, and holds the
  // first response open so the worker dies in the middle of the action.
  const charges = new Map<string, { id: string; amount: number }>();
  const received: string[] = [];
  let applied = 0;
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const key = String(req.headers['idempotency-key']);
      received.push(key);
      const existing = charges.get(key);
      if (existing) {
        res.writeHead(200, { 'content-type': 'application/json', 'idempotent-replayed': 'true' });
        res.end(JSON.stringify(existing));
        return;
      }
      applied += 1;
      charges.set(key, { id: `ch_${applied}`, amount: JSON.parse(body).amount });
      // First delivery: never answered. The worker is killed while waiting.
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const taskQueue = uniqueId('mcp-crash');
  const spawnOpts = {
    address: temporal.env.connection.options.address,
    taskQueue,
    env: {
      AIRLOCK_HTTP_ALLOWED_HOSTS: '127.0.0.1:*',
      AIRLOCK_HTTP_INSECURE_HOSTS: '127.0.0.1:*',
      AIRLOCK_HTTP_ALLOWED_NETWORKS: '127.0.0.0/8',
      AIRLOCK_POLICY_FILE: policyFile,
      AIRLOCK_PEOPLE_FILE: fixture('people-mcp.yaml'),
      AIRLOCK_DATABASE_URL: pg.url,
      AIRLOCK_DATA_DIR: dir,
    },
  };
  let mcp: Client | undefined;
  try {
    workers.push(await spawnWorker({ ...spawnOpts, identity: 'worker-1' }));
    // The API in this process (no worker of its own): the call's timeouts come from its registry, as planned steps'.
    airlock = await testAirlock(temporal.env, {
      taskQueue,
      registry: fastRegistry(),
      policy: policyFile,
      audit: (audit = await AuditStore.open(openDatabase(pg.url))),
      // The call itself waits long enough to outlive the crash and answer the result.
      config: { AIRLOCK_PEOPLE_FILE: fixture('people-mcp.yaml'), AIRLOCK_MCP_APPROVAL_WAIT: '50s' },
    });
    app = await airlock.api();
    const base = await app.listen({ host: '127.0.0.1', port: 0 });
    mcp = new Client({ name: 'test-agent', version: '1' });
    const transport = new StreamableHTTPClientTransport(new URL(`${base}/mcp`), {
      requestInit: { headers: { authorization: 'Bearer deploy-bot-test-token' } },
    });
    await mcp.connect(transport);
    const sessionId = transport.sessionId!;

    const params = {
      name: 'http.request',
      arguments: { method: 'POST', url: `http://127.0.0.1:${port}/charges`, json: { amount: 4200 } },
      _meta: { 'airlock/callId': 'charge-1' },
    };
    const call = mcp.callTool(params, undefined, { timeout: 120_000 });
    await eventually(() => applied === 1, 'the charge to reach the payment API');
    const killedAt = performance.now();
    await workers[0].kill();
    workers.push(await spawnWorker({ ...spawnOpts, identity: 'worker-2' }));
    const takenOverAt = performance.now();

    const result = (await call) as CallToolResult;
    const answeredAt = performance.now();
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toMatchObject({
      status: 'succeeded',
      callId: 'charge-1',
      stepId: 'call-1',
      ruleId: 'payments',
      output: { status: 200, body: { id: 'ch_1', amount: 4200 } },
    });
    // The agent retries the call (same call id) as after a lost answer: the same result, nothing acts again.
    const retried = (await mcp.callTool(params)) as CallToolResult;
    expect(retried.structuredContent).toEqual(result.structuredContent);
    expect(applied).toBe(1);
    expect(received).toEqual([`${sessionId}/call-1`, `${sessionId}/call-1`]);
    const finished = (await airlock.audit.events(sessionId)).filter((e) => e.type === 'action.finished');
    expect(finished).toHaveLength(1);
    console.log(
      `MCP call recovery: ${Math.round(answeredAt - killedAt)} ms from SIGKILL to the agent's result ` +
        `(${Math.round(takenOverAt - killedAt)} ms to start worker-2, ${Math.round(answeredAt - takenOverAt)} ms from its start)`,
    );
  } finally {
    await mcp?.close();
    server.closeAllConnections();
    server.close();
  }
}, 120_000);
