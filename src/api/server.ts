/**
 * Airlock's HTTP API (DESIGN.md "Public interface"): Fastify, request and response schemas in zod, the OpenAPI
 * document generated from them at /openapi.json. Every handler is a thin shell over the functions the CLI uses;
 * identity comes from bearer tokens in the people file; decisions go through the one checked vote path.
 */
import { createHash, randomUUID } from 'node:crypto';
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import canonicalize from 'canonicalize';
import { LRUCache } from 'lru-cache';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyRequest } from 'fastify';
import {
  hasZodFastifySchemaValidationErrors,
  jsonSchemaTransform,
  serializerCompiler,
  validatorCompiler,
  type ZodTypeProvider,
} from 'fastify-type-provider-zod';
import type { Logger } from 'pino';
import { z } from 'zod';
import type { ToolRegistry } from '../../activities/registry';
import { ApprovalRefusedError, deliverVote, listPendingApprovals } from '../../approvals/deliver';
import { jobStateQuery } from '../../workflows/messages';
import { RefusalCode } from '../core/approval';
import { JobStatus, type JobState } from '../core/job';
import type { AuditStore } from '../audit/store';
import { JobFrozenError, type FreezeControl } from '../freeze';
import { JobValidationError, planJob } from '../jobs/plan';
import { jobsQuery } from '../core/jobs-query';
import { jobSchema } from '../core/job-schema';
import { startPlannedJob } from '../jobs/submit';
import { httpDuration, jobsByState, jobsSubmitted, registry as metricsRegistry } from '../metrics';
import type { Caller, Directory } from '../people';
import type { Person } from '../core/people';

export interface ApiOptions {
  client: Client;
  taskQueue: string;
  registry: ToolRegistry;
  directory: Directory;
  audit: AuditStore;
  freeze: FreezeControl;
  logger: Logger;
  /** Groups whose members may cancel any job and pull the kill switch. */
  operatorGroups: string[];
  rateLimitPerMinute: number;
  /** The policy's `freeze.mode`, used when a freeze request names none. */
  freezeMode: () => 'pause' | 'abort';
  /** Registers `POST /slack/events` (approvals/slack/app.ts) when Slack is configured. */
  slack?: { register: (app: FastifyInstance) => unknown };
  /** Largest accepted request body, in bytes. */
  bodyLimit?: number;
}

type Principal = { kind: 'person'; person: Person } | { kind: 'caller'; caller: Caller };

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
}

const problem = z.object({
  error: z.string(),
  message: z.string(),
  issues: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
});
const idempotencyKey = z.string().min(1).max(255);

/** The workflow id for a caller's Idempotency-Key: keys are scoped to the caller. */
export function jobIdFor(callerId: string, key: string): string {
  return `job-${createHash('sha256').update(`${callerId}\n${key}`).digest('hex').slice(0, 32)}`;
}

const sha256 = (value: unknown) =>
  `sha256:${createHash('sha256')
    .update(canonicalize(value) ?? '')
    .digest('hex')}`;

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly issues?: { path: string; message: string }[],
  ) {
    super(message);
  }
}

const REFUSAL_STATUS: Record<RefusalCode, number> = {
  not_in_group: 403,
  self_approval: 403,
  unknown_person: 403,
  already_voted: 409,
  request_closed: 409,
  digest_mismatch: 409,
  unknown_request: 404,
};

export async function buildApi(opts: ApiOptions) {
  /** Jobs (by id) this process has started or been asked for again: which submissions are probably retries. */
  const seenKeys = new LRUCache<string, true>({ max: 100_000 });
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

  const isOperator = (p?: Principal) =>
    p?.kind === 'person' && p.person.groups.some((g) => opts.operatorGroups.includes(g));
  const mayTouchAgent = (p: Principal | undefined, agent: string) =>
    p?.kind === 'caller' ? opts.directory.mayRun(p.caller, agent) : p?.kind === 'person';

  app.addHook('onRequest', async (req, reply) => {
    reply.header('x-request-id', req.id);
    if (!req.url.startsWith('/v1/')) return;
    const header = req.headers.authorization ?? '';
    const token = /^Bearer\s+(\S+)$/i.exec(header)?.[1];
    const who = token ? opts.directory.byToken(token) : undefined;
    if (!who) {
      reply.header('www-authenticate', 'Bearer');
      throw new HttpError(
        401,
        'unauthorized',
        token ? 'the bearer token is not valid' : 'an Authorization: Bearer <token> header is required',
      );
    }
    req.principal = 'person' in who ? { kind: 'person', person: who.person } : { kind: 'caller', caller: who.caller };
  });
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
        : req.principal
          ? `caller:${req.principal.caller.id}`
          : req.ip,
    allowList: (req) => !req.url.startsWith('/v1/'),
    errorResponseBuilder: (_req, ctx) => ({
      statusCode: 429,
      error: 'rate_limited',
      message: `at most ${ctx.max} requests per minute; retry in ${ctx.after}`,
    }),
  });

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

  async function jobState(jobId: string): Promise<JobState> {
    try {
      return await opts.client.workflow.getHandle(jobId).query(jobStateQuery);
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) throw new HttpError(404, 'not_found', `no job ${jobId}`);
      throw err;
    }
  }

  async function readableJob(req: FastifyRequest, jobId: string) {
    const state = await jobState(jobId);
    if (!mayTouchAgent(req.principal, state.agent)) throw new HttpError(404, 'not_found', `no job ${jobId}`);
    return state;
  }

  const jobSummary = z.object({ id: z.string(), status: z.string() });

  app.post(
    '/v1/jobs',
    {
      schema: {
        summary: 'Submit a job',
        headers: z.object({ 'idempotency-key': idempotencyKey.optional() }),
        body: jobSchema,
        response: { 200: jobSummary, 201: jobSummary, 400: problem, 403: problem, 409: problem, 422: problem },
      },
      // Validated by planJob instead, so one answer names every problem (envelope and steps).
      attachValidation: true,
    },
    async (req, reply) => {
      const p = req.principal!;
      if (p.kind !== 'caller')
        throw new HttpError(403, 'forbidden', 'jobs are submitted by callers (systems), not people');
      const key = req.headers['idempotency-key'];
      if (typeof key !== 'string' || !key)
        throw new HttpError(400, 'idempotency_key_required', 'the Idempotency-Key header is required');
      // Authorise before validating: a caller learns nothing about jobs for agents it may not run.
      const agent = (req.body as { agent?: unknown } | null)?.agent;
      if (typeof agent === 'string' && !opts.directory.mayRun(p.caller, agent)) {
        throw new HttpError(403, 'forbidden', `caller ${p.caller.id} may not run agent ${agent}`);
      }
      const jobId = jobIdFor(p.caller.id, key);
      const requestHash = sha256(req.body);

      /** The job this key already started: the same body gets it back; another body is a 422. */
      const replay = async () => {
        const d = await opts.client.workflow.getHandle(jobId).describe();
        if (d.memo?.requestHash !== requestHash) {
          throw new HttpError(
            422,
            'idempotency_key_reused',
            `Idempotency-Key "${key}" was used for a different request`,
          );
        }
        reply.header('idempotent-replayed', 'true');
        return reply
          .status(200)
          .send({ id: jobId, status: String(d.searchAttributes.AirlockStatus?.[0] ?? JobStatus.Running) });
      };

      // A key this process has seen is probably a retry: one read finds its job. Any other key is probably new: start
      // first (one call); should it be a retry after all (another instance saw it), the start fails and we read.
      if (seenKeys.has(jobId)) {
        try {
          return await replay();
        } catch (e) {
          if (!(e instanceof WorkflowNotFoundError)) throw e;
        }
      }
      seenKeys.set(jobId, true);
      let plan;
      try {
        plan = planJob(req.body, opts.registry, p.caller.id);
      } catch (err) {
        if (err instanceof JobValidationError) throw new HttpError(400, 'invalid_job', err.message, err.issues);
        throw err;
      }
      plan.requestId = req.id;
      try {
        await startPlannedJob(opts.client, plan, {
          taskQueue: opts.taskQueue,
          jobId,
          freeze: opts.freeze,
          memo: { requestHash, caller: p.caller.id },
        });
      } catch (err) {
        // Concurrent duplicates: one start wins, the others find its job.
        if (err instanceof WorkflowExecutionAlreadyStartedError) return replay();
        if (err instanceof JobFrozenError) throw new HttpError(409, 'frozen', err.message);
        throw err;
      }
      jobsSubmitted.inc({ agent: plan.agent });
      return reply.status(201).send({ id: jobId, status: JobStatus.Running });
    },
  );

  app.get(
    '/v1/jobs/:id',
    {
      schema: { summary: 'A job: steps, status, decisions, approvals, outputs', params: z.object({ id: z.string() }) },
    },
    async (req) => readableJob(req, req.params.id),
  );

  app.get(
    '/v1/jobs',
    {
      schema: {
        summary: 'List jobs',
        querystring: z.strictObject({
          status: z.enum(Object.values(JobStatus) as [string, ...string[]]).optional(),
          agent: z
            .string()
            .regex(/^[A-Za-z0-9._-]+$/)
            .optional(),
          limit: z.coerce.number().int().min(1).max(500).default(50),
        }),
      },
    },
    async (req) => {
      const jobs: { id: string; status: string; agent: string; startedAt: string }[] = [];
      for await (const wf of opts.client.workflow.list({ query: jobsQuery(req.query) })) {
        const agent = String(wf.searchAttributes.AirlockAgent?.[0] ?? '');
        if (!mayTouchAgent(req.principal, agent)) continue;
        jobs.push({
          id: wf.workflowId,
          status: String(wf.searchAttributes.AirlockStatus?.[0] ?? wf.status.name),
          agent,
          startedAt: wf.startTime.toISOString(),
        });
        if (jobs.length >= req.query.limit) break;
      }
      return { jobs };
    },
  );

  app.post(
    '/v1/jobs/:id/cancel',
    { schema: { summary: 'Cancel a job; what it did is compensated', params: z.object({ id: z.string() }) } },
    async (req, reply) => {
      const state = await jobState(req.params.id);
      const p = req.principal;
      const allowed = p?.kind === 'caller' ? opts.directory.mayRun(p.caller, state.agent) : isOperator(p);
      if (!allowed)
        throw new HttpError(
          403,
          'forbidden',
          `only operators (${opts.operatorGroups.join(', ')}) or the agent's caller may cancel`,
        );
      await opts.client.workflow.getHandle(req.params.id).cancel();
      return reply.status(202).send({ id: req.params.id, status: 'cancelling' });
    },
  );

  app.get(
    '/v1/jobs/:id/audit',
    {
      schema: {
        summary: 'The audit trail; ?verify=1 recomputes the chain',
        params: z.object({ id: z.string() }),
        querystring: z.object({ verify: z.enum(['0', '1']).optional() }),
      },
    },
    async (req) => {
      const events = await opts.audit.events(req.params.id);
      if (!events.length) throw new HttpError(404, 'not_found', `no audit trail for ${req.params.id}`);
      const submitted = events[0].data as { agent?: string };
      if (!mayTouchAgent(req.principal, String(submitted.agent ?? '')))
        throw new HttpError(404, 'not_found', `no audit trail for ${req.params.id}`);
      return {
        jobId: req.params.id,
        events,
        head: (await opts.audit.head(req.params.id)) ?? null,
        ...(req.query.verify === '1' ? { verification: await opts.audit.verify(req.params.id) } : {}),
      };
    },
  );

  app.get(
    '/v1/approvals',
    {
      schema: {
        summary: 'Open approval requests',
        querystring: z.object({ status: z.literal('pending').default('pending') }),
      },
    },
    async (req) => ({
      approvals: (await listPendingApprovals(opts.client)).filter((r) => mayTouchAgent(req.principal, r.agent)),
    }),
  );

  app.post(
    '/v1/approvals/:id/decision',
    {
      schema: {
        summary: 'Decide an approval request as yourself',
        params: z.object({ id: z.string() }),
        body: z.strictObject({
          decision: z.enum(['approve', 'reject']),
          comment: z.string().max(2000).optional(),
          /** The input digest you reviewed; omitted: the one pending now. */
          digest: z
            .string()
            .regex(/^sha256:[0-9a-f]{64}$/)
            .optional(),
        }),
      },
    },
    async (req) => {
      const p = req.principal!;
      if (p.kind !== 'person') throw new HttpError(403, 'forbidden', 'only people decide approvals; callers cannot');
      try {
        return await deliverVote(
          opts.client,
          { person: p.person, requestId: req.params.id, channel: 'api', ...req.body },
          opts.audit,
          req.id,
        );
      } catch (err) {
        if (err instanceof ApprovalRefusedError) throw new HttpError(REFUSAL_STATUS[err.code], err.code, err.message);
        throw err;
      }
    },
  );

  const freezeBody = z.strictObject({
    agent: z
      .string()
      .regex(/^[A-Za-z0-9._-]+$/)
      .optional(),
    mode: z.enum(['pause', 'abort']).optional(),
    reason: z.string().min(1).max(500),
  });
  const requireOperator = (req: FastifyRequest) => {
    if (!isOperator(req.principal))
      throw new HttpError(403, 'forbidden', `only operators (${opts.operatorGroups.join(', ')}) may freeze`);
    return (req.principal as { person: Person }).person;
  };
  app.post(
    '/v1/freeze',
    { schema: { summary: 'Kill switch on (global or one agent)', body: freezeBody } },
    async (req, reply) => {
      const by = requireOperator(req);
      const entry = {
        agent: req.body.agent,
        mode: req.body.mode ?? opts.freezeMode(),
        reason: req.body.reason,
        by: by.id,
        at: new Date().toISOString(),
      };
      const { signalled } = await opts.freeze.freeze(entry);
      return reply.status(200).send({ frozen: entry, signalled });
    },
  );
  app.delete(
    '/v1/freeze',
    {
      schema: {
        summary: 'Kill switch off',
        body: z
          .strictObject({
            agent: z
              .string()
              .regex(/^[A-Za-z0-9._-]+$/)
              .optional(),
          })
          .optional(),
      },
    },
    async (req) => {
      requireOperator(req);
      return opts.freeze.unfreeze((req.body as { agent?: string } | undefined)?.agent);
    },
  );

  app.get('/healthz', { schema: { hide: true } }, async (_req, reply) => {
    const checks = await Promise.allSettled([
      opts.client.workflowService.getSystemInfo({}),
      opts.audit.db.query('SELECT 1'),
    ]);
    const [temporal, database] = checks.map((c) =>
      c.status === 'fulfilled' ? 'ok' : String((c as PromiseRejectedResult).reason),
    );
    return reply.status(temporal === 'ok' && database === 'ok' ? 200 : 503).send({ temporal, database });
  });

  jobsByState(
    async (status) => Number((await opts.client.workflow.count(jobsQuery({ status }))).count),
    Object.values(JobStatus),
  );
  app.get('/metrics', { schema: { hide: true } }, async (_req, reply) =>
    reply.header('content-type', metricsRegistry.contentType).send(await metricsRegistry.metrics()),
  );

  if (opts.slack) await opts.slack.register(app as unknown as FastifyInstance);

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  return app;
}
