/**
 * Airlock's HTTP API (DESIGN.md "Public interface"): Fastify, request and response schemas in zod, the OpenAPI
 * document generated from them at /openapi.json. This file assembles the server (type provider, OpenAPI, request
 * ids, authentication, rate limit, error handling) and registers one plugin per resource from ./routes. Every
 * handler is a thin shell over the functions the CLI uses; identity comes from bearer tokens in the people file,
 * and each route declares who may call it (./access.ts); decisions go through the one checked vote path.
 */
import { randomUUID } from 'node:crypto';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyPluginAsync } from 'fastify';
import {
  hasZodFastifySchemaValidationErrors,
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import type { Logger } from 'pino';
import type { ToolRegistry } from '../../activities/registry';
import type { AuditStore } from '../audit/store';
import type { AttestationKey, Attestor } from '../core/attestation';
import type { FreezeControl } from '../freeze';
import { httpDuration } from '../metrics';
import type { Directory } from '../people';
import { Access, appendAuthorise, authenticate, isPublic } from './access';
import { HttpError } from './http';
import { approvalRoutes } from './routes/approvals';
import { auditRoutes } from './routes/audit';
import { freezeRoutes } from './routes/freeze';
import { healthRoutes } from './routes/health';
import { jobRoutes } from './routes/jobs';
import { mcpRoutes } from './routes/mcp';
import type { CompiledPolicy } from '../policy/load';
import { AgentSessions } from '../sessions/sessions';

export interface ApiOptions {
  client: Client;
  taskQueue: string;
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
  /** The policy's `freeze.mode`, used when a freeze request names none. */
  freezeMode: () => 'pause' | 'abort';
  /** Registers `POST /slack/events` (approvals/slack/app.ts) when Slack is configured. */
  slack?: { register: (app: FastifyInstance) => unknown };
  /** Largest accepted request body, in bytes. */
  bodyLimit?: number;
  /** Agents over MCP (/mcp): the policy in force (what tools/list shows) and how long calls wait for humans. */
  mcp?: { policy: () => CompiledPolicy; approvalWaitMs: number; progressIntervalMs: number };
}

export async function buildApi(opts: ApiOptions) {
  const app = Fastify({
    loggerInstance: opts.logger,
    genReqId: () => randomUUID(),
    requestIdHeader: false,
    bodyLimit: opts.bodyLimit ?? 256 * 1024,
  }).withTypeProvider<ZodTypeProvider>();
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
  app.addHook('onRequest', authenticate(opts.directory));
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
    if (err instanceof WorkflowNotFoundError)
      return reply.status(404).send({ error: 'not_found', message: err.message });
    req.log.error({ err }, 'unhandled error');
    return reply.status(500).send({ error: 'internal', message: 'internal error; see the logs for request ' + req.id });
  });

  const { client, audit } = opts;
  await app.register(jobRoutes, {
    client,
    taskQueue: opts.taskQueue,
    registry: opts.registry,
    freeze: opts.freeze,
    attestationKeys: opts.attestationKeys,
    access,
  });
  await app.register(auditRoutes, { audit, access });
  await app.register(approvalRoutes, { client, audit, access, attestor: opts.attestor });
  await app.register(freezeRoutes, { freeze: opts.freeze, freezeMode: opts.freezeMode, access });
  await app.register(healthRoutes, { client, audit });
  if (opts.mcp) {
    const sessions = new AgentSessions({
      client,
      taskQueue: opts.taskQueue,
      freeze: opts.freeze,
      attestationKeys: opts.attestationKeys,
    });
    await app.register(mcpRoutes, { sessions, registry: opts.registry, ...opts.mcp });
  }
  // Slack authenticates its requests by their signature (approvals/slack/verify.ts), not by a bearer token.
  if (opts.slack) await app.register(publicScope(opts.slack.register));

  app.get('/openapi.json', { config: { auth: { public: true } }, schema: { hide: true } }, async () => app.swagger());

  return app;
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
