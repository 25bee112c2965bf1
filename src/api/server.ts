/**
 * Airlock's HTTP API (DESIGN.md "Public interface"): Fastify, request and response schemas in zod, the OpenAPI
 * document generated from them at /openapi.json. This file assembles the server (type provider, OpenAPI, request
 * ids, authentication, rate limit, error handling) and registers one plugin per resource from ./routes. Every
 * handler is a thin shell over the functions the CLI uses; identity comes from bearer tokens in the people file,
 * and each route declares who may call it (./access.ts); decisions go through the one checked vote path. The web
 * console (src/console) is served by this same process, at /console, with sessions instead of bearer tokens.
 */
import { randomUUID } from 'node:crypto';
import { ServiceError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import Fastify, {
  type FastifyError,
  type FastifyInstance,
  type FastifyPluginAsync,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import {
  hasZodFastifySchemaValidationErrors,
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import type { Logger } from 'pino';
import type { ToolRegistry } from '../../activities/registry';
import type { ToolQueues } from '../core/tool-queues';
import type { AuditStore } from '../audit/store';
import type { AttestationKey, Attestor } from '../core/attestation';
import type { FreezeControl } from '../freeze';
import { httpDuration } from '../metrics';
import type { Directory } from '../people';
import { Access, appendAuthorise, authenticate, isPublic } from './access';
import { consoleRoutes, type ConsoleOptions } from '../console';
import { HttpError } from './http';
import { useCheckedJsonParser } from './json-body';
import { approvalRoutes } from './routes/approvals';
import { auditRoutes } from './routes/audit';
import { freezeRoutes } from './routes/freeze';
import { healthRoutes } from './routes/health';
import { jobRoutes } from './routes/jobs';
import { mcpRoutes } from './routes/mcp';
import type { CompiledPolicy } from '../policy/load';
import { AgentSessions } from '../sessions/sessions';
import { operationRoutes } from './routes/operations';
import type { PolicyStore } from '../policy/store';
import { StepOutputTable } from '../audit/outputs';

export interface ApiOptions {
  client: Client;
  taskQueue: string;
  /** Task queue per tool family (AIRLOCK_TOOL_QUEUES); unrouted tools run on `taskQueue`. */
  toolQueues?: ToolQueues;
  registry: ToolRegistry;
  directory: Directory;
  audit: AuditStore;
  freeze: FreezeControl;
  logger: Logger;
  /** Signs the votes the API authenticated (the API channel's attestation key). */
  attestor: Attestor;
  /** The channel keys submitted jobs trust (JobInput.attestationKeys). */
  attestationKeys: AttestationKey[];
  /** Groups whose members may cancel any job and pull the kill switch. */
  operatorGroups: string[];
  rateLimitPerMinute: number;
  /** How long Idempotency-Keys are kept (default: a week). */
  idempotencyKeyRetentionMs?: number;
  /** The Temporal namespace jobs run in (health checks it); default: the client's. */
  namespace?: string;
  /** The policy's `freeze.mode`, used when a freeze request names none. */
  freezeMode: () => 'pause' | 'abort';
  /** Registers `POST /slack/events` (approvals/slack/app.ts) when Slack is configured. */
  slack?: { register: (app: FastifyInstance) => unknown };
  /** Registers `POST /github/webhooks` (approvals/github/webhooks.ts) when GitHub's webhook secret is configured. */
  github?: { register: (app: FastifyInstance) => unknown };
  /** The policy, for what a retry would ask (its dry run). */
  policy: PolicyStore;
  /** Where `jobs show` links a workflow in the Temporal UI (AIRLOCK_TEMPORAL_UI_URL). */
  temporalUiUrl?: string;
  /** Largest accepted request body, in bytes. */
  bodyLimit?: number;
  /** Agents over MCP (/mcp): the policy in force (what tools/list shows) and how long calls wait for humans. */
  mcp?: { policy: () => CompiledPolicy; approvalWaitMs: number; progressIntervalMs: number; maxHistoryEvents?: number };
  /** The web console at /console (src/console): its proxy, session and Temporal UI settings. */
  console?: Pick<
    ConsoleOptions,
    'namespace' | 'temporalUiUrl' | 'trustedProxies' | 'proxyHeader' | 'sessionKey' | 'dataDir'
  >;
}

export async function buildApi(opts: ApiOptions) {
  const app = Fastify({
    loggerInstance: opts.logger,
    genReqId: () => randomUUID(),
    requestIdHeader: false,
    bodyLimit: opts.bodyLimit ?? 256 * 1024,
    // Ids the API hands out must fit its own routes (the default limit, 100, is shorter than an approval id
    // `<jobId>:<stepId>`, MAX_ID_PARAM_LENGTH). Far above it, so an overlong id is a 400 naming the field, not a 414.
    routerOptions: { maxParamLength: 16 * 1024 },
    // Behind the console's authenticating proxy, its X-Forwarded-For/-Proto are believed (from those addresses only).
    ...(opts.console?.trustedProxies.length ? { trustProxy: opts.console.trustedProxies } : {}),
  }).withTypeProvider<ZodTypeProvider>();
  useCheckedJsonParser(app);
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  await app.register(swagger, {
    openapi: {
      info: { title: 'Airlock', version: '1', description: 'Control plane for AI-agent actions' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
    transform: jsonSchemaTransform,
  });

  const access = new Access(opts.directory, opts.operatorGroups);
  app.addHook('onRequest', async (req, reply) => {
    reply.header('x-request-id', req.id);
  });
  const methods = methodNotAllowed();
  app.addHook('onRoute', methods.onRoute);
  // Authenticated first: a 405 would tell a caller without a token which paths exist.
  app.addHook('onRequest', authenticate(opts.directory));
  app.addHook('onRequest', methods.onRequest);
  app.addHook('onResponse', async (req, reply) => {
    httpDuration.observe(
      { method: req.method, route: req.routeOptions.url ?? 'unknown', status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });

  await app.register(rateLimit, {
    global: true,
    hook: 'preHandler',
    max: opts.rateLimitPerMinute,
    timeWindow: '1 minute',
    keyGenerator: (req) =>
      req.principal?.kind === 'person'
        ? `person:${req.principal.person.id}`
        : req.principal?.kind === 'caller'
          ? `caller:${req.principal.caller.id}`
          : req.principal?.kind === 'agent'
            ? `agent:${req.principal.agent.name}`
            : req.ip,
    allowList: (req) => isPublic(req),
    errorResponseBuilder: (_req, ctx) => ({
      statusCode: 429,
      error: 'rate_limited',
      message: `at most ${ctx.max} requests per minute; retry in ${ctx.after}`,
    }),
  });
  // After the limiter, so its preHandler runs first on every route.
  app.addHook('onRoute', appendAuthorise(access));
  // Reached only by an authenticated principal (`authenticate` refuses strangers first); limited like any route, so
  // probing for paths costs the principal its budget. The body names no path.
  app.setNotFoundHandler(
    // The limiter is typed for the app's pino logger, the not-found options for Fastify's base logger: same object.
    { preHandler: app.rateLimit() as never },
    async (_req, reply) => reply.status(404).send({ error: 'not_found', message: 'no such route' }),
  );

  app.setErrorHandler((err: FastifyError | HttpError, req, reply) => {
    if (err instanceof HttpError)
      return reply
        .status(err.status)
        .send({ error: err.code, message: err.message, ...(err.issues ? { issues: err.issues } : {}) });
    if (hasZodFastifySchemaValidationErrors(err)) {
      const issues = err.validation.map((v) => ({
        path: `${err.validationContext}${v.instancePath.replace(/\//g, '.')}`,
        message: v.message ?? 'invalid',
      }));
      return reply
        .status(400)
        .send({ error: 'invalid_request', message: issues.map((i) => `${i.path}: ${i.message}`).join('; '), issues });
    }
    if (err.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || err instanceof SyntaxError) {
      return reply.status(400).send({ error: 'malformed_json', message: `the body is not valid JSON: ${err.message}` });
    }
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
      return reply.status(413).send({ error: 'body_too_large', message: err.message });
    if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE')
      return reply.status(415).send({ error: 'unsupported_media_type', message: err.message });
    if ((err as { statusCode?: number }).statusCode === 429) return reply.status(429).send(err);
    // Any other refusal of Fastify's own (a 4xx it chose) is the client's error, not ours.
    const status = (err as { statusCode?: number }).statusCode;
    if (typeof status === 'number' && status >= 400 && status < 500)
      return reply
        .status(status)
        .send({ error: String(err.code ?? 'bad_request').toLowerCase(), message: err.message });
    if (err instanceof WorkflowNotFoundError)
      return reply.status(404).send({ error: 'not_found', message: err.message });
    // Temporal or the audit database not answering is not the caller's fault, nor a bug: try again later.
    if (err instanceof ServiceError || isConnectionError(err)) {
      req.log.warn({ err }, 'a dependency is unavailable');
      return reply.status(503).send({ error: 'unavailable', message: 'Temporal or the audit database is unavailable' });
    }
    req.log.error({ err }, 'unhandled error');
    return reply.status(500).send({ error: 'internal', message: 'internal error; see the logs for request ' + req.id });
  });

  const { client, audit } = opts;
  await app.register(jobRoutes, {
    client,
    taskQueue: opts.taskQueue,
    toolQueues: opts.toolQueues,
    registry: opts.registry,
    freeze: opts.freeze,
    attestationKeys: opts.attestationKeys,
    outputs: new StepOutputTable(opts.audit.db),
    access,
    db: audit.db,
    idempotencyKeyRetentionMs: opts.idempotencyKeyRetentionMs,
    temporalUiUrl: opts.temporalUiUrl ?? 'http://localhost:8233',
  });
  // What the operations need; the console's repair forms get the same, so both call the same functions.
  const operations = {
    client,
    taskQueue: opts.taskQueue,
    registry: opts.registry,
    policy: opts.policy,
    audit,
    freeze: opts.freeze,
    attestationKeys: opts.attestationKeys,
  };
  await app.register(operationRoutes, { ...operations, access });
  await app.register(auditRoutes, { audit, access });
  await app.register(approvalRoutes, { client, audit, access, attestor: opts.attestor });
  await app.register(freezeRoutes, { freeze: opts.freeze, freezeMode: opts.freezeMode, access });
  await app.register(healthRoutes, { client, audit, namespace: opts.namespace ?? client.options.namespace });
  if (opts.console)
    await app.register(consoleRoutes, {
      ...opts.console,
      client,
      audit,
      access,
      freeze: opts.freeze,
      attestor: opts.attestor,
      freezeMode: opts.freezeMode,
      operations,
    });
  if (opts.mcp) {
    const sessions = new AgentSessions({
      client,
      taskQueue: opts.taskQueue,
      freeze: opts.freeze,
      attestationKeys: opts.attestationKeys,
      maxHistoryEvents: opts.mcp.maxHistoryEvents,
    });
    await app.register(mcpRoutes, { sessions, registry: opts.registry, toolQueues: opts.toolQueues, ...opts.mcp });
  }
  // Slack authenticates its requests by their signature (approvals/slack/verify.ts), not by a bearer token.
  if (opts.slack) await app.register(publicScope(opts.slack.register));
  // GitHub too: the webhook's X-Hub-Signature-256 is its authentication.
  if (opts.github) await app.register(publicScope(opts.github.register));

  app.get('/openapi.json', { config: { auth: { public: true } }, schema: { hide: true } }, async () => app.swagger());

  return app;
}

/** Answers 405 (with `Allow`) for a path that exists under other methods, instead of 404. */
function methodNotAllowed() {
  const routes: { pattern: RegExp; method: string }[] = [];
  const onRoute = (route: { url: string; method: string | string[] }) => {
    const pattern = new RegExp(`^${route.url.replace(/:[^/]+/g, '[^/]+')}/?$`);
    for (const method of [route.method].flat()) if (method !== 'HEAD') routes.push({ pattern, method });
  };
  const onRequest = async (req: FastifyRequest, reply: FastifyReply) => {
    if (!req.is404) return;
    const path = req.url.split('?')[0];
    const allowed = routes.filter((r) => r.pattern.test(path)).map((r) => r.method);
    if (allowed.length)
      return reply
        .status(405)
        .header('allow', allowed.join(', '))
        .send({ error: 'method_not_allowed', message: `${req.method} ${path}: allowed ${allowed.join(', ')}` });
  };
  return { onRoute, onRequest };
}

/** A database connection that failed or was cut (SQLSTATE class 08, 57P01-03, or a refused socket). */
function isConnectionError(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return (
    typeof code === 'string' && (/^(08|57P0)/.test(code) || ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT'].includes(code))
  );
}

/** A scope whose routes are all public: for routes registered by others, which declare no `config.auth`. */
function publicScope(register: (app: FastifyInstance) => unknown): FastifyPluginAsync {
  return async (scope) => {
    scope.addHook('onRoute', (route) => {
      route.config = { ...route.config, auth: { public: true } };
    });
    await register(scope);
  };
}
