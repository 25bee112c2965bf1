/** /v1/jobs: submit (under an Idempotency-Key), read, list and cancel jobs. */
import type { Client } from '@temporalio/client';
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ToolRegistry } from '../../../activities/registry';
import type { AttestationKey } from '../../core/attestation';
import type { FreezeReader } from '../../core/contracts';
import type { Database } from '../../core/db';
import type { ToolQueues } from '../../core/tool-queues';
import { JobStatus } from '../../core/job';
import { jobSchema } from '../../core/job-schema';
import { JobFrozenError } from '../../freeze';
import { JobValidationError } from '../../jobs/plan';
import { listJobs, readCallbackStatus, readJobState } from '../../jobs/read';
import type { StoredOutputs } from '../../core/outputs';
import { IdempotencyKeyReusedError, Submissions } from '../../jobs/submission';
import { callerOf, type Access } from '../access';
import { jobView } from '../../operations/triage';
import { agentName, bodyRefusals, HttpError, idParams, refusals } from '../http';

export interface JobRoutesOptions {
  client: Client;
  taskQueue: string;
  /** Task queue per tool family (AIRLOCK_TOOL_QUEUES); unrouted tools run on `taskQueue`. */
  toolQueues?: ToolQueues;
  registry: ToolRegistry;
  freeze?: FreezeReader;
  /** The channel keys whose vote attestations submitted jobs trust. */
  attestationKeys?: AttestationKey[];
  access: Access;
  /** Outputs too large for workflow history (faults-v1). */
  outputs: StoredOutputs;
  /** The audit database, where Idempotency-Keys are kept. */
  db: Database;
  idempotencyKeyRetentionMs?: number;
  /** Where a job's triage links the Temporal UI. */
  temporalUiUrl: string;
}

const idempotencyKey = z.string().min(1).max(255);
const jobSummary = z.object({ id: z.string(), status: z.string() });
/** A job's state (JobState in src/core/job.ts); documented by its main fields, the rest passed through. */
const jobState = z.looseObject({
  jobId: z.string(),
  agent: z.string(),
  title: z.string(),
  status: z.string(),
  steps: z.array(z.looseObject({ id: z.string(), action: z.string(), status: z.string() })),
});
const jobList = z.object({
  jobs: z.array(
    z.object({
      id: z.string(),
      status: z.string(),
      agent: z.string(),
      /** `session` for an agent's MCP session, `job` for a planned job. */
      kind: z.enum(['job', 'session']),
      startedAt: z.string(),
    }),
  ),
});

export const jobRoutes: FastifyPluginAsyncZod<JobRoutesOptions> = async (app, opts) => {
  const { client, access } = opts;
  const submissions = await Submissions.open({
    client,
    registry: opts.registry,
    taskQueue: opts.taskQueue,
    toolQueues: opts.toolQueues,
    freeze: opts.freeze,
    attestationKeys: opts.attestationKeys,
    db: opts.db,
    retentionMs: opts.idempotencyKeyRetentionMs,
  });

  /** The job's state, when it exists and the principal may see its agent's jobs; 404 otherwise. */
  async function readableJob(req: FastifyRequest, jobId: string) {
    const state = await readJobState(client, jobId);
    if (!state || !access.mayTouchAgent(req.principal, state.agent))
      throw new HttpError(404, 'not_found', `no job ${jobId}`);
    return state;
  }

  app.post(
    '/v1/jobs',
    {
      config: { auth: { accepts: ['caller'], refusal: 'jobs are submitted by callers (systems), not people' } },
      schema: {
        summary: 'Submit a job',
        headers: z.object({ 'idempotency-key': idempotencyKey }),
        body: jobSchema,
        response: { 200: jobSummary, 201: jobSummary, ...refusals(403, 409, 422, ...bodyRefusals) },
      },
      // Validated by planJob instead, so one answer names every problem (envelope and steps).
      attachValidation: true,
    },
    async (req, reply) => {
      const caller = callerOf(req);
      const key = req.headers['idempotency-key'];
      if (typeof key !== 'string' || !key)
        throw new HttpError(400, 'idempotency_key_required', 'the Idempotency-Key header is required');
      // Authorise before validating: a caller learns nothing about jobs for agents it may not run.
      const agent = (req.body as { agent?: unknown } | null)?.agent;
      if (typeof agent === 'string' && !access.directory.mayRun(caller, agent)) {
        throw new HttpError(403, 'forbidden', `caller ${caller.id} may not run agent ${agent}`);
      }
      const requestedBy = (req.body as { requestedBy?: unknown } | null)?.requestedBy;
      if (requestedBy !== undefined) {
        const person = typeof requestedBy === 'string' ? access.directory.person(requestedBy) : undefined;
        if (!person)
          throw new HttpError(
            403,
            'forbidden',
            `requestedBy: ${JSON.stringify(requestedBy)} is not a person of the directory`,
          );
        if (person.id === agent)
          throw new HttpError(403, 'forbidden', `requestedBy: ${person.id} is the job's agent, not a person asking`);
        if (!access.directory.mayAssert(caller, person))
          throw new HttpError(403, 'forbidden', `requestedBy: caller ${caller.id} may not assert ${person.id}`);
      }
      let job;
      try {
        job = await submissions.submit({
          caller: caller.id,
          requestedBy: requestedBy as string | undefined,
          key,
          body: req.body,
          requestId: req.id,
        });
      } catch (err) {
        if (err instanceof JobValidationError) throw new HttpError(400, 'invalid_job', err.message, err.issues);
        if (err instanceof JobFrozenError) throw new HttpError(409, 'frozen', err.message);
        if (err instanceof IdempotencyKeyReusedError) throw new HttpError(422, err.code, err.message);
        throw err;
      }
      if (job.replayed) reply.header('idempotent-replayed', 'true');
      return reply.status(job.replayed ? 200 : 201).send({ id: job.id, status: job.status });
    },
  );

  app.get(
    '/v1/jobs/:id',
    {
      schema: {
        summary:
          'A job: steps, status, decisions, approvals, outputs, the delivery of its callback, its retries and repair, ' +
          'and (unless it succeeded) its triage',
        params: idParams,
        response: { 200: jobState, ...refusals(404) },
      },
    },
    async (req) => {
      const state = await readableJob(req, req.params.id);
      const [callback, view] = await Promise.all([
        readCallbackStatus(client, req.params.id),
        // Retries, repair, and for a job that did not succeed its triage (failure chain, attempts, workers, UI link).
        jobView(client, state, opts.temporalUiUrl),
      ]);
      return callback ? { ...view, callback } : view;
    },
  );

  app.get(
    '/v1/jobs/:id/outputs/:step',
    {
      schema: {
        summary: "A step's whole output, when it was too large for workflow history (the job shows a bounded copy)",
        params: z.strictObject({ id: idParams.shape.id, step: z.string().min(1).max(200) }),
        response: { 200: z.unknown(), ...refusals(404) },
      },
    },
    async (req) => {
      await readableJob(req, req.params.id);
      const stored = await opts.outputs.get(req.params.id, req.params.step);
      if (!stored) throw new HttpError(404, 'not_found', `no stored output of step ${req.params.step}`);
      return stored;
    },
  );

  app.get(
    '/v1/jobs',
    {
      schema: {
        summary: 'List jobs',
        querystring: z.strictObject({
          status: z.enum(Object.values(JobStatus) as [string, ...string[]]).optional(),
          /** Jobs that ended without succeeding since this instant (ISO 8601). */
          failedSince: z.iso.datetime({ offset: true }).optional(),
          agent: agentName.optional(),
          limit: z.coerce.number().int().min(1).max(500).default(50),
        }),
        response: { 200: jobList, ...refusals() },
      },
    },
    async (req) => {
      const jobs: { id: string; status: string; agent: string; kind: string; startedAt: string }[] = [];
      const { failedSince, ...filter } = req.query;
      for await (const job of listJobs(client, {
        ...filter,
        ...(failedSince ? { failedSince: new Date(failedSince) } : {}),
      })) {
        if (!access.mayTouchAgent(req.principal, job.agent)) continue;
        jobs.push({ ...job, startedAt: job.startedAt.toISOString() });
        if (jobs.length >= req.query.limit) break;
      }
      return { jobs };
    },
  );

  app.post(
    '/v1/jobs/:id/cancel',
    {
      schema: {
        summary: 'Cancel a job; what it did is compensated',
        params: idParams,
        response: {
          202: z.object({ id: z.string(), status: z.literal('cancelling') }),
          ...refusals(403, 404, ...bodyRefusals),
        },
      },
    },
    async (req, reply) => {
      const state = await readJobState(client, req.params.id);
      if (!state) throw new HttpError(404, 'not_found', `no job ${req.params.id}`);
      const p = req.principal;
      // Operators cancel any job; a caller, the jobs of agents it may run.
      const allowed = p?.kind === 'caller' ? access.directory.mayRun(p.caller, state.agent) : access.isOperator(p);
      if (!allowed)
        throw new HttpError(
          403,
          'forbidden',
          `only operators (${access.operatorGroups.join(', ')}) or the agent's caller may cancel`,
        );
      await client.workflow.getHandle(req.params.id).cancel();
      return reply.status(202).send({ id: req.params.id, status: 'cancelling' });
    },
  );
};
