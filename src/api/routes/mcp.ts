/**
 * /mcp: agents connect with the Model Context Protocol (Streamable HTTP, the official SDK). Each MCP session is an
 * agent-session workflow (workflows/session.ts); each tools/call one governed step of it, decided by the policy
 * right before acting, asking humans when the policy says so, audited, undone by `airlock_rollback`.
 *
 * The transport runs without in-process session state (a fresh SDK server and transport per HTTP request): the
 * session lives in Temporal, its id is the workflow id, sent as `Mcp-Session-Id`. Any API process serves any
 * session, and a restarted API loses none.
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv-provider.js';
import {
  CallToolRequestSchema,
  ListToolsRequestSchema,
  isInitializeRequest,
  type CallToolResult,
  type RequestId,
} from '@modelcontextprotocol/sdk/types.js';
import { WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { ToolRegistry } from '../../../activities/registry';
import { ApprovalStatus } from '../../core/approval';
import { inputDigest } from '../../core/digest';
import { FailureType } from '../../core/failures';
import type { JobState } from '../../core/job';
import { formatIssues } from '../../core/issues';
import { JobFrozenError } from '../../freeze';
import { sessionStep } from '../../jobs/plan';
import type { ToolQueues } from '../../core/tool-queues';
import type { AgentCredential } from '../../people';
import type { CompiledPolicy } from '../../policy/load';
import { visibleTools, type AgentFacts } from '../../sessions/catalogue';
import type { AgentSessions, CallOutcome, Tick } from '../../sessions/sessions';
import { agentOf, type RouteAuth } from '../access';

export interface McpRoutesOptions {
  sessions: AgentSessions;
  registry: ToolRegistry;
  /** Which task queue each tool's activities run on (AIRLOCK_TOOL_QUEUES), as for planned jobs. */
  toolQueues?: ToolQueues;
  /** The policy in force (tools/list shows what it could ever allow the agent). */
  policy: () => CompiledPolicy;
  /** How long a call waits for humans, sending progress, before answering `awaiting_approval`. */
  approvalWaitMs: number;
  progressIntervalMs: number;
}

/** Airlock's own tools, beside the governed ones. */
const BUILTIN_TOOLS = [
  {
    name: 'airlock_wait',
    title: 'Wait for a call that awaits approval',
    description:
      'Waits (up to waitSeconds, at most 55) for the result of an earlier call that answered awaiting_approval, and returns it: the tool output once approved (the action runs once, however often you ask), an error with the reason when rejected or timed out, or awaiting_approval again.',
    inputSchema: {
      type: 'object' as const,
      properties: {
        callId: { type: 'string', description: 'The callId from the awaiting_approval result' },
        waitSeconds: { type: 'number', minimum: 0, maximum: 55, description: 'How long to wait (default 25)' },
      },
      required: ['callId'],
    },
    annotations: { readOnlyHint: true },
  },
  {
    name: 'airlock_status',
    title: 'Session status',
    description:
      "This session's status: each call (action, status, decision), the approvals it waits for (who, until when), the budget spent.",
    inputSchema: { type: 'object' as const, properties: {} },
    annotations: { readOnlyHint: true },
  },
  {
    name: 'airlock_rollback',
    title: 'Undo the session and end it',
    description:
      "Undoes what this session did (each action's compensation, newest first) and ends the session. Calls still waiting for approval are withdrawn.",
    inputSchema: { type: 'object' as const, properties: {} },
    annotations: { readOnlyHint: false, destructiveHint: true },
  },
];

const MCP_SESSION_HEADER = 'mcp-session-id';

const rpcError = (code: number, message: string) => ({ jsonrpc: '2.0', error: { code, message }, id: null });

const text = (value: unknown) => (typeof value === 'string' ? value : JSON.stringify(value, null, 2));

/** A tool call's answer; `structured` is also sent as text for clients that read only text. */
function answer(structured: Record<string, unknown>, isError = false): CallToolResult {
  return { content: [{ type: 'text', text: text(structured) }], structuredContent: structured, isError };
}

/** Why a call did not act, as the agent reads it: the rule and its reason, or the approver and theirs. */
function refusal(err: unknown): CallToolResult {
  let cause: unknown = err instanceof WorkflowUpdateFailedError ? err.cause : err;
  while (cause instanceof Error && !(cause instanceof ApplicationFailure) && cause.cause) cause = cause.cause;
  if (!(cause instanceof ApplicationFailure)) {
    return answer({ status: 'failed', message: cause instanceof Error ? cause.message : String(cause) }, true);
  }
  const details = (cause.details?.[0] ?? {}) as Record<string, unknown>;
  const base = { type: cause.type, message: cause.message };
  switch (cause.type) {
    case FailureType.PolicyDenied:
      return answer({ status: 'denied', ...base, ruleId: details.ruleId, policyHash: details.policyHash }, true);
    case FailureType.ApprovalRejected:
      return answer({ status: 'rejected', ...base, approver: details.approver, reason: details.comment ?? null }, true);
    case FailureType.ApprovalTimedOut:
      return answer({ status: 'timed_out', ...base }, true);
    default:
      return answer({ status: 'failed', ...base }, true);
  }
}

/** The approval a call waits for, if any. */
function pendingApproval(state: JobState, callId: string) {
  const step = state.steps.find((s) => s.callId === callId);
  const request = step && state.approvals.find((r) => r.stepId === step.id && r.status === ApprovalStatus.Pending);
  return { step, request };
}

export const mcpRoutes: FastifyPluginAsync<McpRoutesOptions> = async (app, opts) => {
  const { sessions, registry } = opts;
  const base = (req: FastifyRequest) => `${req.protocol}://${req.host}`;
  const metadataPath = '/.well-known/oauth-protected-resource/mcp';
  // One for the route: an SDK server builds its own otherwise (an Ajv instance, ~0.6 ms of each request's CPU), and
  // it serves only elicitation, which Airlock does not use. Should it ever: Ajv keeps every schema object it compiled
  // (and one per `$id`), so elicitation schemas must be built once, not per request.
  const jsonSchemaValidator = new AjvJsonSchemaValidator();
  // RFC 9728 / the MCP authorization spec: a 401 names where the resource's metadata is.
  const auth: RouteAuth = {
    accepts: ['agent'],
    refusal: "/mcp is for agents, with a token of the people file's `agents`",
    challenge: (req) => `Bearer realm="airlock", resource_metadata="${base(req)}${metadataPath}"`,
  };

  app.get(metadataPath, { config: { auth: { public: true } }, schema: { hide: true } }, async (req) => ({
    resource: `${base(req)}/mcp`,
    bearer_methods_supported: ['header'],
    resource_name: 'Airlock',
  }));

  /** The calling agent's running session named by the header; answers 400/404 itself when there is none. */
  async function ownSession(req: FastifyRequest, reply: FastifyReply, agent: AgentCredential) {
    const sessionId = req.headers[MCP_SESSION_HEADER];
    if (typeof sessionId !== 'string' || !sessionId) {
      await reply.status(400).send(rpcError(-32000, 'Bad Request: the Mcp-Session-Id header is required'));
      return undefined;
    }
    // Another agent's session is as unknown as an ended one: MCP clients start a new session on 404.
    if ((await sessions.runningAgent(sessionId)) !== agent.name) {
      await reply.status(404).send(rpcError(-32001, 'Session not found'));
      return undefined;
    }
    return sessionId;
  }

  app.post('/mcp', { config: { auth }, schema: { hide: true } }, async (req, reply) => {
    const agent = agentOf(req);
    const messages = Array.isArray(req.body) ? req.body : [req.body];
    let sessionId: string | undefined;
    if (messages.some((m) => isInitializeRequest(m))) {
      try {
        sessionId = await sessions.start(agent, req.id);
      } catch (err) {
        if (err instanceof JobFrozenError) return reply.status(409).send(rpcError(-32000, err.message));
        throw err;
      }
    } else {
      sessionId = await ownSession(req, reply, agent);
      if (!sessionId) return reply;
    }
    const server = mcpServer(opts, agent, sessionId, req.id);
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
    await server.connect(transport);
    reply.hijack();
    reply.raw.setHeader('x-request-id', req.id);
    reply.raw.setHeader(MCP_SESSION_HEADER, sessionId);
    reply.raw.on('close', () => {
      void transport.close();
      void server.close();
    });
    await transport.handleRequest(req.raw, reply.raw, req.body);
    return reply;
  });

  // No server-initiated messages outside a call: the standalone SSE stream is not offered (the spec's 405).
  app.get('/mcp', { config: { auth }, schema: { hide: true } }, async (_req, reply) =>
    reply.status(405).header('allow', 'POST, DELETE').send(rpcError(-32000, 'Method not allowed')),
  );

  app.delete('/mcp', { config: { auth }, schema: { hide: true } }, async (req, reply) => {
    const agent = agentOf(req);
    const sessionId = await ownSession(req, reply, agent);
    if (!sessionId) return reply;
    const end = await sessions.end(sessionId, 'closed', agent.name);
    return reply.status(200).send(end);
  });

  /** One request's MCP server: the agent's tools, and its calls sent to its session. */
  function mcpServer(o: McpRoutesOptions, agent: AgentCredential, sessionId: string, httpRequestId: string) {
    const mcp = new McpServer(
      { name: 'airlock', version: '1' },
      {
        capabilities: { tools: {} },
        jsonSchemaValidator,
        instructions:
          'Every tool call is decided by Airlock\'s policy right before it acts; some wait for human approval. A call that answers {"status":"awaiting_approval"} has not acted yet: call airlock_wait with its callId to wait for the decision (the action runs once). airlock_rollback undoes the session.',
      },
    );
    const who: AgentFacts = { agent: agent.name, caller: agent.caller, context: agent.context };

    mcp.server.setRequestHandler(ListToolsRequestSchema, async () => ({
      tools: [...visibleTools(registry, o.policy(), who), ...BUILTIN_TOOLS],
    }));

    mcp.server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
      const { name, arguments: args = {} } = request.params;
      const progressToken = request.params._meta?.progressToken;
      /** Waits for a call's result, telling the agent (progress) while it waits for humans. */
      const settle = async (
        callId: string,
        wait: (tick: Tick | undefined) => Promise<CallOutcome>,
        expect?: { action: string; digest: string },
      ) => {
        let progress = 0;
        const tick =
          progressToken === undefined
            ? undefined
            : {
                intervalMs: o.progressIntervalMs,
                run: async () => {
                  const { step, request: r } = pendingApproval(await sessions.state(sessionId), callId);
                  const message = r
                    ? `awaiting approval ${r.id} by ${r.groups.join(' or ')} (${r.votes.filter((v) => v.decision === 'approve').length} of ${r.quorum}) until ${r.deadline}`
                    : `${step?.action ?? 'call'} ${step?.status ?? 'running'}`;
                  await extra.sendNotification({
                    method: 'notifications/progress',
                    params: { progressToken, progress: ++progress, message },
                  });
                },
              };
        let outcome;
        try {
          outcome = await wait(tick);
        } catch (err) {
          if (err instanceof WorkflowNotFoundError)
            return answer({ status: 'failed', message: `session ${sessionId} has ended` }, true);
          return refusal(err);
        }
        if (outcome.done) {
          const r = outcome.result;
          if (expect && (r.action !== expect.action || r.inputDigest !== expect.digest)) {
            return answer(
              {
                status: 'failed',
                message: `call id ${callId} was already used in this session for ${r.action} with other input; give each call its own id (_meta "airlock/callId")`,
              },
              true,
            );
          }
          return answer({ status: 'succeeded', callId, stepId: r.stepId, ruleId: r.ruleId, output: r.output ?? null });
        }
        const { step, request: r } = pendingApproval(await sessions.state(sessionId), callId);
        if (!step) {
          // Not even accepted within the wait (Temporal overloaded): the same call id sent again is the same call.
          return answer({
            status: 'in_progress',
            callId,
            next: `send the same call again with _meta {"airlock/callId": ${JSON.stringify(callId)}}; it acts once`,
          });
        }
        return answer({
          status: r ? 'awaiting_approval' : 'in_progress',
          callId,
          ...(step ? { stepId: step.id, action: step.action } : {}),
          ...(r
            ? {
                approvalRequestId: r.id,
                approvers: r.groups,
                quorum: r.quorum,
                approvals: r.votes.filter((v) => v.decision === 'approve').length,
                deadline: r.deadline,
                ruleId: r.ruleId,
                reason: r.reason ?? null,
              }
            : {}),
          next: `call airlock_wait with {"callId": ${JSON.stringify(callId)}} to wait for the result; the action runs once`,
        });
      };

      if (name === 'airlock_wait') {
        const callId = typeof args.callId === 'string' ? args.callId : undefined;
        if (!callId) return answer({ status: 'failed', message: 'callId: required (a string)' }, true);
        const seconds = typeof args.waitSeconds === 'number' ? Math.min(Math.max(args.waitSeconds, 0), 55) : undefined;
        const state = await sessions.state(sessionId);
        if (!state.steps.some((s) => s.callId === callId))
          return answer({ status: 'failed', message: `callId: no call ${callId} in this session` }, true);
        const waitMs = seconds !== undefined ? seconds * 1000 : o.approvalWaitMs;
        return settle(callId, (tick) => sessions.awaitCall(sessionId, callId, waitMs, tick));
      }
      if (name === 'airlock_status') {
        const s = await sessions.state(sessionId);
        return answer({
          sessionId,
          status: s.status,
          spent: s.spent,
          calls: s.steps.map((step) => ({
            callId: step.callId,
            stepId: step.id,
            action: step.action,
            status: step.status,
            ...(step.error ? { error: step.error.message } : {}),
          })),
          pendingApprovals: s.approvals
            .filter((r) => r.status === ApprovalStatus.Pending)
            .map((r) => ({ id: r.id, stepId: r.stepId, approvers: r.groups, quorum: r.quorum, deadline: r.deadline })),
        });
      }
      if (name === 'airlock_rollback') {
        const end = await sessions.end(sessionId, 'rollback', agent.name);
        return answer({ ...end }, end.failedCompensations.length > 0);
      }

      const tool = registry.get(name);
      if (!tool) return answer({ status: 'failed', message: `unknown tool ${name}` }, true);
      const parsed = tool.input.safeParse(args);
      if (!parsed.success) {
        const issues = formatIssues(parsed.error, ['arguments']);
        return answer(
          { status: 'invalid', message: issues.map((i) => `${i.path}: ${i.message}`).join('; '), issues },
          true,
        );
      }
      const callId = callIdOf(request.params._meta, extra.requestId);
      const step = sessionStep(tool, args, opts.toolQueues ?? {});
      return settle(
        callId,
        (tick) => sessions.call(sessionId, callId, step, { requestId: httpRequestId, waitMs: o.approvalWaitMs, tick }),
        { action: tool.name, digest: inputDigest(args) },
      );
    });
    return mcp;
  }
};

/** The call's id: the agent's own (`_meta["airlock/callId"]`), else the JSON-RPC request id. */
function callIdOf(meta: Record<string, unknown> | undefined, requestId: RequestId): string {
  const own = meta?.['airlock/callId'];
  return typeof own === 'string' && own ? own : String(requestId);
}
