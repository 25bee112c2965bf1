/**
 * Agents over MCP: the official SDK client (Streamable HTTP) against the API as the composition root builds it,
 * listening on 127.0.0.1, with a worker on the real Temporal dev server and the audit on real PostgreSQL. Approvals
 * are decided over the HTTP API with people's tokens, as humans do.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InterceptingCall, type Interceptor } from '@grpc/grpc-js';
import { Client as TemporalClient, Connection, WorkflowUpdateFailedError } from '@temporalio/client';
import type { Worker } from '@temporalio/worker';
import { AuditStore } from '../../src/audit/store';
import { AgentSessions } from '../../src/sessions/sessions';
import { sessionStep } from '../../src/jobs/plan';
import { connectUpstreams } from '../../src/upstreams';
import type { Airlock } from '../../src/compose';
import { gitOk, makeRepo, subjects } from '../helpers/git';
import { fixture, testAirlock, useTemporalServer, workflowBundle } from '../helpers/temporal';
import { eventually } from '../helpers/wait';

const temporal = useTemporalServer();
let airlock: Airlock;
let worker: Worker;
let running: Promise<void>;
let app: Awaited<ReturnType<Airlock['api']>>;
let base: string;
let repo: string;
let cleanup: () => void;
// The API's Temporal connection counts its calls: what a request costs in RPCs is measured.
const rpcs: string[] = [];
const counting: Interceptor = (options, next) => {
  rpcs.push(options.method_definition.path);
  return new InterceptingCall(next(options));
};
let connection: Connection;
/** What the upstream server did, a line each. */
let ledger: string;
const ledgerLines = () => (existsSync(ledger) ? readFileSync(ledger, 'utf8').trim().split('\n').filter(Boolean) : []);

beforeAll(async () => {
  ({ repo, cleanup } = makeRepo());
  // The file's database, with a key that signs each trail's head when its session ends.
  const signingKey = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  // An upstream MCP server (stdio) re-exposed as calc.<tool>; its token comes from the worker's secrets.
  // `reserve` is undone by `release`, its arguments mapped from the reservation's input and output.
  const dir = mkdtempSync(join(tmpdir(), 'airlock-mcp-'));
  const upstreams = join(dir, 'upstreams.yaml');
  ledger = join(dir, 'ledger.txt');
  writeFileSync(
    upstreams,
    `servers:
  calc:
    command: ${process.execPath}
    args: [${fixture('upstream-mcp.mjs')}]
    env: { UPSTREAM_TOKEN: { secret: CALC_TOKEN }, UPSTREAM_LEDGER: ${ledger} }
    risk: low
    compensations:
      reserve: { tool: release, arguments: { id: { from: output.id }, seat: { from: input.seat }, why: rollback } }
`,
  );
  connection = await Connection.connect({
    address: temporal.env.connection.options.address,
    interceptors: [counting],
  });
  airlock = await testAirlock(temporal.env, {
    client: new TemporalClient({ connection }),
    audit: await AuditStore.open(temporal.audit().db, signingKey),
    deps: { secret: (name) => (name === 'CALC_TOKEN' ? 'upstream-s3cret' : undefined) },
    policy: fixture('policy-mcp.yaml'),
    config: {
      AIRLOCK_PEOPLE_FILE: fixture('people-mcp.yaml'),
      AIRLOCK_MCP_APPROVAL_WAIT: '1500ms',
      AIRLOCK_MCP_PROGRESS_INTERVAL: '200ms',
      AIRLOCK_MCP_UPSTREAMS: upstreams,
    },
  });
  worker = await airlock.worker({ connection: temporal.env.nativeConnection, workflowBundle: await workflowBundle() });
  running = worker.run();
  app = await airlock.api();
  base = await app.listen({ host: '127.0.0.1', port: 0 });
}, 90_000);
afterAll(async () => {
  await app?.close();
  worker?.shutdown();
  await running;
  await airlock?.close();
  await connection?.close();
  cleanup?.();
});

async function connect(agent = 'deploy-bot') {
  const client = new Client({ name: 'test-agent', version: '1' });
  const transport = new StreamableHTTPClientTransport(new URL(`${base}/mcp`), {
    requestInit: { headers: { authorization: `Bearer ${agent}-test-token` } },
  });
  await client.connect(transport);
  return { client, transport, sessionId: transport.sessionId! };
}

type Structured = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const structured = (r: unknown) => (r as CallToolResult).structuredContent as Structured;
const textOf = (r: unknown) => ((r as CallToolResult).content[0] as { text: string }).text;

async function api(method: string, path: string, as: string, body?: unknown) {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${as}-test-token`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json().catch(() => undefined)) as Structured };
}

const auditTypes = async (sessionId: string, stepId: string) =>
  (await airlock.audit.events(sessionId))
    .filter((e) => (e.data as { stepId?: string }).stepId === stepId)
    .map((e) => e.type);

test('/mcp needs an agent token: 401 with a Bearer challenge naming the resource metadata; people get 403', async () => {
  const init = {
    jsonrpc: '2.0',
    id: 1,
    method: 'initialize',
    params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'x', version: '1' } },
  };
  const res = await fetch(`${base}/mcp`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: JSON.stringify(init),
  });
  expect(res.status).toBe(401);
  const challenge = res.headers.get('www-authenticate')!;
  expect(challenge).toMatch(/^Bearer /);
  const metadataUrl = /resource_metadata="([^"]+)"/.exec(challenge)![1];
  const metadata = await (await fetch(metadataUrl)).json();
  expect(metadata).toMatchObject({ resource: `${base}/mcp`, bearer_methods_supported: ['header'] });

  const asPerson = await fetch(`${base}/mcp`, {
    method: 'POST',
    headers: {
      authorization: 'Bearer alice-test-token',
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
    },
    body: JSON.stringify(init),
  });
  expect(asPerson.status).toBe(403);
  // An agent's token reaches nothing else.
  expect((await api('GET', '/v1/jobs', 'deploy-bot')).status).toBe(403);
});

test('tools/list shows each agent only what the policy could allow it, with JSON Schemas and risk classes', async () => {
  const { client, transport } = await connect();
  const { tools } = await client.listTools();
  const names = tools.map((t) => t.name).sort();
  expect(names).toEqual(
    [
      'airlock_rollback',
      'airlock_status',
      'airlock_wait',
      'calc.add',
      'calc.divide',
      'calc.release',
      'calc.reserve',
      'calc.token_length',
      'git.commit',
      'git.create_branch',
      'git.merge',
    ].sort(),
  );
  const branch = tools.find((t) => t.name === 'git.create_branch')!;
  expect(branch.inputSchema).toMatchObject({ type: 'object', required: expect.arrayContaining(['repo', 'branch']) });
  expect(Object.keys(branch.inputSchema.properties!)).toEqual(expect.arrayContaining(['repo', 'branch', 'from']));
  expect(branch.description).toContain('Risk: low');
  expect(tools.find((t) => t.name === 'git.merge')!.description).toContain('Risk: medium');
  await transport.terminateSession();

  // The rule denying shell.run names deploy-bot only: another agent sees it.
  const other = await connect('other-bot');
  expect((await other.client.listTools()).tools.map((t) => t.name)).toContain('shell.run');
  await other.transport.terminateSession();
});

test('an allowed call acts once, audited, in a session listed with the jobs; a retried request id does not act again', async () => {
  const { client, transport, sessionId } = await connect();
  expect(sessionId).toMatch(/^session-/);
  const result = await client.callTool({ name: 'git.create_branch', arguments: { repo, branch: 'mcp-allowed' } });
  expect(result.isError).toBeFalsy();
  expect(structured(result)).toMatchObject({ status: 'succeeded', stepId: 'call-1', ruleId: 'everyday' });
  expect(gitOk(repo, 'rev-parse', '--verify', 'refs/heads/mcp-allowed')).toBe(true);
  expect(await auditTypes(sessionId, 'call-1')).toEqual(['policy.decision', 'action.started', 'action.finished']);

  // The same JSON-RPC request sent twice (a client retrying after a lost response) is one update: it acts once.
  const retried = {
    jsonrpc: '2.0',
    id: 'retry-me',
    method: 'tools/call',
    params: { name: 'git.create_branch', arguments: { repo, branch: 'mcp-retried' } },
  };
  const send = async () => {
    const res = await fetch(`${base}/mcp`, {
      method: 'POST',
      headers: {
        authorization: 'Bearer deploy-bot-test-token',
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-session-id': sessionId,
        'mcp-protocol-version': transport.protocolVersion ?? '2025-06-18',
      },
      body: JSON.stringify(retried),
    });
    const body = await res.text();
    const data = body
      .split('\n')
      .filter((l) => l.startsWith('data: '))
      .map((l) => JSON.parse(l.slice(6)))
      .find((m) => m.id === 'retry-me');
    return data.result.structuredContent;
  };
  const first = await send();
  const second = await send();
  expect(first).toMatchObject({ status: 'succeeded', stepId: 'call-2' });
  expect(second).toEqual(first);
  const state = await api('GET', `/v1/jobs/${sessionId}`, 'alice');
  expect(state.body).toMatchObject({ kind: 'session', agent: 'deploy-bot', status: 'running' });
  expect(state.body.steps.map((s: { callId: string }) => s.callId)).toEqual([expect.any(String), 'retry-me']);
  expect((await airlock.audit.events(sessionId)).filter((e) => e.type === 'action.started')).toHaveLength(2);

  // Listed with the jobs, with its search attributes.
  await eventually(async () => {
    const list = await api('GET', '/v1/jobs?agent=deploy-bot&status=running', 'alice');
    return list.body.jobs.some((j: { id: string; kind: string }) => j.id === sessionId && j.kind === 'session');
  }, 'the session listed as a running job of deploy-bot');
  await transport.terminateSession();
});

test("an agent's calls in a row look its session up once; another agent's request on it is a 404 all the same", async () => {
  const { client, transport, sessionId } = await connect();
  rpcs.length = 0;
  for (const branch of ['mcp-row-1', 'mcp-row-2', 'mcp-row-3'])
    expect(structured(await client.callTool({ name: 'git.create_branch', arguments: { repo, branch } }))).toMatchObject(
      { status: 'succeeded' },
    );
  expect(rpcs.filter((r) => r.endsWith('/DescribeWorkflowExecution')).length).toBeLessThanOrEqual(1);
  // The session seen running for deploy-bot is still no one else's.
  const list = (agent: string) =>
    fetch(`${base}/mcp`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${agent}-test-token`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-session-id': sessionId,
        'mcp-protocol-version': transport.protocolVersion ?? '2025-06-18',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list' }),
    });
  expect((await list('other-bot')).status).toBe(404);
  expect((await list('deploy-bot')).status).toBe(200);
  await transport.terminateSession();
  // Closed here: the next request is told at once that the session is gone.
  expect((await list('deploy-bot')).status).toBe(404);
});

test('a denied call is a tool error naming the rule and its reason, and acts not', async () => {
  const { client, transport, sessionId } = await connect();
  const result = await client.callTool({ name: 'git.delete_branch', arguments: { repo, branch: 'main' } });
  expect(result.isError).toBe(true);
  expect(textOf(result)).toContain('never-delete-branches');
  expect(textOf(result)).toContain('agents never delete branches');
  expect(structured(result)).toMatchObject({ status: 'denied', ruleId: 'never-delete-branches' });
  expect(gitOk(repo, 'rev-parse', '--verify', 'refs/heads/main')).toBe(true);
  expect(await auditTypes(sessionId, 'call-1')).toEqual(['policy.decision']);
  await transport.terminateSession();
});

test('an approval-gated call reports progress, answers awaiting_approval, and acts once after a person approves', async () => {
  const { client, transport, sessionId } = await connect();
  await client.callTool({ name: 'git.create_branch', arguments: { repo, branch: 'mcp-approved' } });
  await client.callTool({
    name: 'git.commit',
    arguments: { repo, branch: 'mcp-approved', message: 'Approved change', files: [{ path: 'a.txt', content: 'a\n' }] },
  });
  const progress: { progress: number; message?: string }[] = [];
  const pending = await client.callTool(
    { name: 'git.merge', arguments: { repo, source: 'mcp-approved', target: 'main' } },
    undefined,
    { onprogress: (p) => progress.push(p) },
  );
  expect(pending.isError).toBeFalsy();
  const waiting = structured(pending);
  expect(waiting).toMatchObject({
    status: 'awaiting_approval',
    stepId: 'call-3',
    approvalRequestId: `${sessionId}:call-3`,
    approvers: ['sre'],
    ruleId: 'merge-needs-an-sre',
    deadline: expect.any(String),
  });
  expect(progress.length).toBeGreaterThan(0);
  expect(progress.at(-1)!.message).toContain(`awaiting approval ${sessionId}:call-3`);

  // Asking again before anyone decided: still waiting, nothing acted.
  const again = await client.callTool({
    name: 'airlock_wait',
    arguments: { callId: waiting.callId, waitSeconds: 0.5 },
  });
  expect(structured(again)).toMatchObject({ status: 'awaiting_approval', callId: waiting.callId });
  expect(await auditTypes(sessionId, 'call-3')).not.toContain('action.started');

  const vote = await api('POST', `/v1/approvals/${encodeURIComponent(waiting.approvalRequestId)}/decision`, 'alice', {
    decision: 'approve',
  });
  expect(vote.status).toBe(200);
  const done = await client.callTool({ name: 'airlock_wait', arguments: { callId: waiting.callId } });
  expect(structured(done)).toMatchObject({ status: 'succeeded', stepId: 'call-3', ruleId: 'merge-needs-an-sre' });
  const twice = await client.callTool({ name: 'airlock_wait', arguments: { callId: waiting.callId } });
  expect(structured(twice)).toEqual(structured(done));
  expect(subjects(repo, 'main')).toContain('Approved change');
  expect((await auditTypes(sessionId, 'call-3')).filter((t) => t === 'action.started')).toHaveLength(1);
  await transport.terminateSession();
});

test('at most 6 calls wait at once: a 7th is refused (SessionBusy) without acting, and votes on the waiting ones get through', async () => {
  // Each call waiting for people is an update in flight, and Temporal holds 10 per workflow: a vote is one too.
  const { client, transport, sessionId } = await connect();
  const branches = [1, 2, 3, 4, 5, 6].map((i) => `mcp-busy-${i}`);
  for (const branch of branches) await client.callTool({ name: 'git.create_branch', arguments: { repo, branch } });
  const waiting = (
    await Promise.all(
      branches.map((source) => client.callTool({ name: 'git.merge', arguments: { repo, source, target: 'main' } })),
    )
  ).map(structured);
  expect(waiting.map((w) => w.status)).toEqual(Array(6).fill('awaiting_approval'));

  const seventh = await client.callTool({ name: 'git.create_branch', arguments: { repo, branch: 'mcp-busy-7' } });
  expect(seventh.isError).toBe(true);
  expect(structured(seventh)).toMatchObject({ type: 'SessionBusy' });
  expect(textOf(seventh)).toContain('6 calls in progress');
  expect(gitOk(repo, 'rev-parse', '--verify', 'refs/heads/mcp-busy-7')).toBe(false);

  // Every waiting call can still be decided; each acts once.
  for (const w of waiting) {
    const vote = await api('POST', `/v1/approvals/${encodeURIComponent(w.approvalRequestId)}/decision`, 'alice', {
      decision: 'approve',
    });
    expect(vote.status).toBe(200);
  }
  for (const w of waiting) {
    const done = await client.callTool({ name: 'airlock_wait', arguments: { callId: w.callId } });
    expect(structured(done)).toMatchObject({ status: 'succeeded', ruleId: 'merge-needs-an-sre' });
  }
  // Room again: the next call is taken.
  const next = await client.callTool({ name: 'git.create_branch', arguments: { repo, branch: 'mcp-busy-7' } });
  expect(structured(next).status).toBe('succeeded');
  const started = (await airlock.audit.events(sessionId)).filter((e) => e.type === 'action.started');
  expect(started).toHaveLength(6 + 6 + 1);
  await transport.terminateSession();
});

test("a rejected call is a tool error carrying the approver's reason", async () => {
  const { client, transport, sessionId } = await connect();
  await client.callTool({ name: 'git.create_branch', arguments: { repo, branch: 'mcp-rejected' } });
  const pending = structured(
    await client.callTool({ name: 'git.merge', arguments: { repo, source: 'mcp-rejected', target: 'main' } }),
  );
  expect(pending.status).toBe('awaiting_approval');
  const vote = await api('POST', `/v1/approvals/${encodeURIComponent(pending.approvalRequestId)}/decision`, 'bob', {
    decision: 'reject',
    comment: 'not during the freeze window',
  });
  expect(vote.status).toBe(200);
  const result = await client.callTool({ name: 'airlock_wait', arguments: { callId: pending.callId } });
  expect(result.isError).toBe(true);
  expect(textOf(result)).toContain('not during the freeze window');
  expect(structured(result)).toMatchObject({
    status: 'rejected',
    approver: 'bob',
    reason: 'not during the freeze window',
  });
  expect(await auditTypes(sessionId, 'call-2')).not.toContain('action.started');
  await transport.terminateSession();
});

test('airlock_rollback runs the compensations in reverse and ends the session, its audit head signed', async () => {
  const { client, sessionId } = await connect();
  await client.callTool({ name: 'git.create_branch', arguments: { repo, branch: 'mcp-undone' } });
  await client.callTool({
    name: 'git.commit',
    arguments: { repo, branch: 'mcp-undone', message: 'To be undone', files: [{ path: 'u.txt', content: 'u\n' }] },
  });
  expect(gitOk(repo, 'rev-parse', '--verify', 'refs/heads/mcp-undone')).toBe(true);
  const result = await client.callTool({ name: 'airlock_rollback', arguments: {} });
  expect(structured(result)).toMatchObject({
    reason: 'rollback',
    status: 'cancelled',
    compensated: ['call-2', 'call-1'],
  });
  expect(gitOk(repo, 'rev-parse', '--verify', 'refs/heads/mcp-undone')).toBe(false);
  const events = (await airlock.audit.events(sessionId)).map(
    (e) => `${e.type}:${(e.data as { stepId?: string }).stepId ?? ''}`,
  );
  expect(events.filter((e) => e.startsWith('compensation.'))).toEqual([
    'compensation.finished:call-2',
    'compensation.finished:call-1',
  ]);
  await eventually(async () => (await airlock.audit.head(sessionId))?.signature, 'the signed audit head');
  expect(await airlock.audit.verify(sessionId)).toMatchObject({ ok: true });
  // The session is over: its id is unknown now, as MCP clients expect.
  await expect(client.callTool({ name: 'airlock_status', arguments: {} })).rejects.toThrow(/404|Session not found/);
});

test('closing the session (DELETE) ends its workflow, keeping what it did', async () => {
  const { client, transport, sessionId } = await connect();
  await client.callTool({ name: 'git.create_branch', arguments: { repo, branch: 'mcp-kept' } });
  await transport.terminateSession();
  const state = await api('GET', `/v1/jobs/${sessionId}`, 'alice');
  expect(state.body).toMatchObject({ kind: 'session', status: 'succeeded', compensated: [] });
  expect(gitOk(repo, 'rev-parse', '--verify', 'refs/heads/mcp-kept')).toBe(true);
  await eventually(async () => (await airlock.audit.head(sessionId))?.signature, 'the signed audit head');
});

test('an abort-freeze of the agent undoes its session and ends it', async () => {
  const { client, sessionId } = await connect('other-bot');
  await client.callTool({ name: 'git.create_branch', arguments: { repo, branch: 'mcp-frozen' } });
  const frozen = await api('POST', '/v1/freeze', 'alice', { agent: 'other-bot', mode: 'abort', reason: 'incident 42' });
  try {
    expect(frozen.status).toBe(200);
    const state = await eventually(async () => {
      const s = (await api('GET', `/v1/jobs/${sessionId}`, 'alice')).body;
      return s.status === 'cancelled' && s;
    }, 'the frozen session to end');
    expect(state).toMatchObject({ compensated: ['call-1'], error: { type: 'JobFrozen' } });
    expect(gitOk(repo, 'rev-parse', '--verify', 'refs/heads/mcp-frozen')).toBe(false);
    // A frozen agent opens no new session.
    await expect(connect('other-bot')).rejects.toThrow(/frozen/);
  } finally {
    await api('DELETE', '/v1/freeze', 'alice', { agent: 'other-bot' });
  }
});

test("an operator's cancel undoes the session", async () => {
  const { client, sessionId } = await connect();
  await client.callTool({ name: 'git.create_branch', arguments: { repo, branch: 'mcp-cancelled' } });
  expect((await api('POST', `/v1/jobs/${sessionId}/cancel`, 'alice')).status).toBe(202);
  const state = await eventually(async () => {
    const s = (await api('GET', `/v1/jobs/${sessionId}`, 'alice')).body;
    return s.status === 'cancelled' && s;
  }, 'the cancelled session to end');
  expect(state.compensated).toEqual(['call-1']);
  expect(gitOk(repo, 'rev-parse', '--verify', 'refs/heads/mcp-cancelled')).toBe(false);
});

test('the session budget holds across calls, and an idle session ends keeping what it did', async () => {
  const { client, sessionId } = await connect('brief-bot');
  const first = await client.callTool({ name: 'git.create_branch', arguments: { repo, branch: 'mcp-brief' } });
  expect(structured(first).status).toBe('succeeded');
  const second = await client.callTool({ name: 'git.create_branch', arguments: { repo, branch: 'mcp-brief-2' } });
  expect(second.isError).toBe(true);
  expect(structured(second)).toMatchObject({ type: 'BudgetExceeded' });
  expect(textOf(second)).toContain('at most 1');
  expect(gitOk(repo, 'rev-parse', '--verify', 'refs/heads/mcp-brief-2')).toBe(false);
  // idleTimeout: 2s for brief-bot.
  const state = await eventually(async () => {
    const s = (await api('GET', `/v1/jobs/${sessionId}`, 'alice')).body;
    return s.status === 'succeeded' && s;
  }, 'the idle session to end');
  expect(state.compensated).toEqual([]);
  expect(gitOk(repo, 'rev-parse', '--verify', 'refs/heads/mcp-brief')).toBe(true);
});

test('calls keep a session open past its idle timeout without restarting its timer; it ends idle after the last', async () => {
  const { client, sessionId } = await connect('brief-bot'); // idleTimeout: 2s, maxActions 1
  const started = Date.now();
  expect(
    structured(await client.callTool({ name: 'git.create_branch', arguments: { repo, branch: 'mcp-idle' } })).status,
  ).toBe('succeeded');
  // Calls every 0.7 s for 3.5 s (refused for the budget: they act not, but they are calls).
  while (Date.now() - started < 3_500) {
    const r = await client.callTool({ name: 'git.create_branch', arguments: { repo, branch: 'mcp-idle-more' } });
    expect(structured(r)).toMatchObject({ type: 'BudgetExceeded' });
    await new Promise((resolve) => setTimeout(resolve, 700));
  }
  expect((await api('GET', `/v1/jobs/${sessionId}`, 'alice')).body.status).toBe('running');
  const lastCall = Date.now();
  await eventually(
    async () => (await api('GET', `/v1/jobs/${sessionId}`, 'alice')).body.status === 'succeeded',
    'idle end',
  );
  expect(Date.now() - lastCall).toBeGreaterThan(1_000);
  // No call restarted the idle timer (generation 2): its timers fired, none was cancelled.
  const events = (await temporal.env.client.workflow.getHandle(sessionId).fetchHistory()).events ?? [];
  expect(events.filter((e) => e.timerCanceledEventAttributes)).toEqual([]);
  expect(events.filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes).length).toBeGreaterThanOrEqual(5);
});

test('calls sent side by side do not overrun the budget: exactly maxActions act, the rest are refused for it', async () => {
  // pair-bot: maxActions 2. Five calls at once, each over its own HTTP request and each with its own branch.
  const { client, sessionId } = await connect('pair-bot');
  const branches = [1, 2, 3, 4, 5].map((i) => `mcp-pair-${i}`);
  const results = await Promise.all(
    branches.map((branch) => client.callTool({ name: 'git.create_branch', arguments: { repo, branch } })),
  );
  const statuses = results.map((r) => structured(r).status ?? structured(r).type);
  expect(statuses.filter((s) => s === 'succeeded')).toHaveLength(2);
  expect(results.filter((r) => r.isError && structured(r).type === 'BudgetExceeded')).toHaveLength(3);
  // What acted is what the answers say: two branches, two actions in the trail, two counted.
  const made = branches.filter((b) => gitOk(repo, 'rev-parse', '--verify', `refs/heads/${b}`));
  expect(made).toHaveLength(2);
  expect((await airlock.audit.events(sessionId)).filter((e) => e.type === 'action.started')).toHaveLength(2);
  expect((await api('GET', `/v1/jobs/${sessionId}`, 'alice')).body.spent).toMatchObject({ actions: 2 });
});

test('a session whose history reached its limit refuses new calls without acting; it can still be closed', async () => {
  // The limit is AIRLOCK_MCP_SESSION_MAX_EVENTS (default 40,000, under Temporal's 51,200); 40 here, a few calls' worth.
  const sessions = new AgentSessions({
    client: airlock.client,
    taskQueue: airlock.config.temporal.taskQueue,
    maxHistoryEvents: 40,
  });
  const agent = airlock.directory.agent('deploy-bot')!;
  const sessionId = await sessions.start(agent);
  const tool = airlock.registry.get('git.create_branch')!;
  const call = (n: number) => {
    const step = sessionStep(tool, { repo, branch: `mcp-full-${n}` }, {});
    return sessions.call(sessionId, `full-${n}`, step, { waitMs: 30_000 });
  };
  let refused: unknown;
  let n = 0;
  for (; n < 10 && !refused; n++) await call(n).catch((err) => (refused = err));
  expect(refused).toBeInstanceOf(WorkflowUpdateFailedError);
  expect((refused as WorkflowUpdateFailedError).cause).toMatchObject({ type: 'SessionFull' });
  // Counted with the events a rollback of the calls so far would add.
  expect((refused as Error & { cause: Error }).cause.message).toMatch(
    /is full \(\d+ events of history and [1-9]\d* calls to undo \(at most 40 events\)\)/,
  );
  // Some calls acted before the limit; the refused one did not act, and the session still closes.
  const last = n - 1;
  expect(last).toBeGreaterThan(0);
  expect(gitOk(repo, 'rev-parse', '--verify', `refs/heads/mcp-full-${last}`)).toBe(false);
  expect(gitOk(repo, 'rev-parse', '--verify', `refs/heads/mcp-full-${last - 1}`)).toBe(true);
  expect(await sessions.end(sessionId, 'closed', 'deploy-bot')).toMatchObject({
    reason: 'closed',
    status: 'succeeded',
  });
});

test('tools of an upstream MCP server are governed tools <server>.<tool>, its credentials kept on the worker', async () => {
  const { client, transport, sessionId } = await connect();
  const { tools } = await client.listTools();
  const add = tools.find((t) => t.name === 'calc.add')!;
  expect(add.inputSchema).toMatchObject({ type: 'object', required: ['a', 'b'] });
  expect(add.description).toContain('Risk: low');

  const sum = await client.callTool({ name: 'calc.add', arguments: { a: 2, b: 3 } });
  expect(structured(sum)).toMatchObject({ status: 'succeeded', ruleId: 'calculator', output: { sum: 5 } });
  expect(await auditTypes(sessionId, 'call-1')).toEqual(['policy.decision', 'action.started', 'action.finished']);
  // The upstream got the token from the worker's secrets; the agent never sees it.
  const token = await client.callTool({ name: 'calc.token_length', arguments: {} });
  expect(structured(token).output).toEqual({ length: 'upstream-s3cret'.length });
  expect(JSON.stringify(await airlock.audit.events(sessionId))).not.toContain('upstream-s3cret');

  const failed = await client.callTool({ name: 'calc.divide', arguments: { a: 1, b: 0 } });
  expect(failed.isError).toBe(true);
  expect(structured(failed)).toMatchObject({ type: 'UpstreamToolError' });
  expect(textOf(failed)).toContain('division by zero');
  const invalid = await client.callTool({ name: 'calc.add', arguments: { a: 'two' } });
  expect(invalid.isError).toBe(true);
  expect(textOf(invalid)).toContain('arguments.a');
  await transport.terminateSession();
});

test('an upstream tool with a compensation in config is undone by rollback: the mapped call, once, in reverse', async () => {
  const { client, sessionId } = await connect();
  const first = await client.callTool({ name: 'calc.reserve', arguments: { seat: '1A' } });
  const second = await client.callTool({ name: 'calc.reserve', arguments: { seat: '2B' } });
  const [a, b] = [structured(first).output.id, structured(second).output.id];
  const before = ledgerLines().length;
  const result = await client.callTool({ name: 'airlock_rollback', arguments: {} });
  expect(structured(result)).toMatchObject({ status: 'cancelled', compensated: ['call-2', 'call-1'] });
  // Newest first, each once, with the id from the output, the seat from the input and the constant.
  expect(ledgerLines().slice(before)).toEqual([`release ${b} 2B rollback`, `release ${a} 1A rollback`]);
  expect(ledgerLines().filter((l) => l.startsWith('release'))).toHaveLength(2);
  const types = (await airlock.audit.events(sessionId)).map(
    (e) => `${e.type}:${(e.data as { stepId?: string }).stepId ?? ''}`,
  );
  expect(types).toEqual(expect.arrayContaining(['compensation.finished:call-2', 'compensation.finished:call-1']));
});

test('upstream compensations in config are checked at connect: unknown tools and malformed mappings are named', async () => {
  const write = (compensations: string) => {
    const file = join(mkdtempSync(join(tmpdir(), 'airlock-mcp-bad-')), 'upstreams.yaml');
    writeFileSync(
      file,
      `servers:\n  calc:\n    command: ${process.execPath}\n    args: [${fixture('upstream-mcp.mjs')}]\n    compensations:\n${compensations}`,
    );
    return file;
  };
  await expect(connectUpstreams(write('      reserve: { tool: unreserve }\n'), () => undefined)).rejects.toThrow(
    'compensations.reserve.tool: the server has no tool "unreserve"',
  );
  await expect(connectUpstreams(write('      book: { tool: release }\n'), () => undefined)).rejects.toThrow(
    'compensations.book: the server has no tool "book"',
  );
  await expect(
    connectUpstreams(
      write('      reserve: { tool: release, arguments: { id: { from: result.id } } }\n'),
      () => undefined,
    ),
  ).rejects.toThrow(/servers\.calc\.compensations\.reserve\.arguments\.id: a mapping is {from: input/);
});
