/**
 * Operators' repairs of jobs (README "Operating Airlock"): retry an ended job as a new one, reset a running one to
 * before a step, run failed compensations again, record a step undone by hand. Operators only; each answers 409,
 * saying why, when the job's state does not allow it, and takes `dryRun` to show what it would do.
 */
import type { Client } from '@temporalio/client';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ToolRegistry } from '../../../activities/registry';
import type { AuditSink } from '../../core/audit';
import type { AttestationKey } from '../../core/attestation';
import type { FreezeReader } from '../../core/contracts';
import { JobFrozenError } from '../../freeze';
import { NotFoundError, OperationRefusedError } from '../../operations/errors';
import { planRepair, startRepair } from '../../operations/repair';
import { planReset, resetJob } from '../../operations/reset';
import { planRetry, startRetry } from '../../operations/retry';
import type { PolicyStore } from '../../policy/store';
import { personOf, type Access, type RouteAuth } from '../access';
import { bodyRefusals, HttpError, idParams, refusals } from '../http';

export interface OperationRoutesOptions {
  client: Client;
  taskQueue: string;
  registry: ToolRegistry;
  policy: PolicyStore;
  audit: AuditSink;
  freeze?: FreezeReader;
  attestationKeys: AttestationKey[];
  access: Access;
}

const stepId = z.string().min(1).max(64);
const reason = z.string().min(1).max(2000);
const retryPlan = z.looseObject({
  jobId: z.string(),
  retryJobId: z.string(),
  retryOf: z.object({
    jobId: z.string(),
    status: z.string(),
    error: z.object({ message: z.string(), type: z.string().optional() }).optional(),
    by: z.string(),
    at: z.string(),
    reason: z.string().optional(),
  }),
  steps: z.array(
    z.object({
      id: z.string(),
      action: z.string(),
      decision: z.string(),
      rule: z.string(),
      asksApproval: z.boolean(),
      inputKnown: z.boolean(),
    }),
  ),
  policy: z.object({
    original: z.array(z.string()),
    current: z.string(),
    changed: z.union([z.boolean(), z.literal('unknown')]),
  }),
});
const resetPlan = z.looseObject({
  jobId: z.string(),
  runId: z.string(),
  toStep: z.string(),
  eventId: z.number(),
  kept: z.array(z.string()),
  rerun: z.array(z.string()),
  discardedVotes: z.number(),
  newRunId: z.string().optional(),
});
const repairState = z.looseObject({
  jobId: z.string(),
  status: z.string(),
  steps: z.array(z.looseObject({ stepId: z.string(), status: z.string() })),
});

export const operationRoutes: FastifyPluginAsyncZod<OperationRoutesOptions> = async (app, opts) => {
  const { client, access } = opts;
  const auth: RouteAuth = {
    accepts: ['operator'],
    refusal: `only operators (${access.operatorGroups.join(', ')}) may retry, reset or repair jobs`,
  };
  /** The operations' refusals as HTTP answers. */
  const answer = async <T>(run: () => Promise<T>): Promise<T> => {
    try {
      return await run();
    } catch (err) {
      if (err instanceof NotFoundError) throw new HttpError(404, 'not_found', err.message);
      if (err instanceof OperationRefusedError) throw new HttpError(409, err.code, err.message);
      if (err instanceof JobFrozenError) throw new HttpError(409, 'frozen', err.message);
      throw err;
    }
  };

  app.post(
    '/v1/jobs/:id/retry',
    {
      config: { auth },
      schema: {
        summary: 'Retry an ended job (failed, timed_out, rejected, cancelled) as a new job; approvals are asked again',
        params: idParams,
        body: z
          .strictObject({ dryRun: z.boolean().default(false), reason: reason.optional() })
          .default({ dryRun: false }),
        response: { 200: retryPlan, 201: retryPlan, ...refusals(403, 404, 409, ...bodyRefusals) },
      },
    },
    async (req, reply) =>
      answer(async () => {
        const deps = { ...opts };
        const plan = await planRetry(deps, req.params.id, personOf(req).id, {
          reason: req.body.reason,
          requestId: req.id,
        });
        const { input: _, ...shown } = plan;
        if (req.body.dryRun) return reply.status(200).send(shown);
        await startRetry(deps, plan);
        return reply.status(201).send(shown);
      }),
  );

  app.post(
    '/v1/jobs/:id/reset',
    {
      config: { auth },
      schema: {
        summary:
          'Reset a running job to before a step: no vote given to the old run counts, approvals are asked again, ' +
          'steps act at most once (same idempotency keys); refused after a compensation',
        params: idParams,
        body: z.strictObject({ toStep: stepId, dryRun: z.boolean().default(false), reason: reason.optional() }),
        response: { 200: resetPlan, ...refusals(403, 404, 409, ...bodyRefusals) },
      },
    },
    async (req) =>
      answer(async () => {
        const plan = await planReset(client, req.params.id, req.body.toStep);
        if (req.body.dryRun) return plan;
        return resetJob(client, opts.audit, plan, personOf(req).id, req.body.reason);
      }),
  );

  app.post(
    '/v1/jobs/:id/compensate',
    {
      config: { auth },
      schema: {
        summary: "Run a compensation_failed job's failed compensations again (all, or one step's)",
        params: idParams,
        body: z
          .strictObject({ step: stepId.optional(), dryRun: z.boolean().default(false) })
          .default({ dryRun: false }),
        response: { 200: repairState, ...refusals(403, 404, 409, ...bodyRefusals) },
      },
    },
    async (req) =>
      answer(async () => {
        const input = await planRepair(client, req.params.id, {
          mode: 'compensate',
          operator: personOf(req).id,
          stepId: req.body.step,
        });
        if (req.body.dryRun)
          return { jobId: input.jobId, status: 'dry_run', steps: input.steps, stepIds: input.stepIds };
        return startRepair(client, opts.taskQueue, input);
      }),
  );

  app.post(
    '/v1/jobs/:id/resolve',
    {
      config: { auth },
      schema: {
        summary: 'Record that a step of a compensation_failed job was undone by hand, by whom and how',
        params: idParams,
        body: z.strictObject({ step: stepId, note: z.string().trim().min(1).max(4000) }),
        response: { 200: repairState, ...refusals(403, 404, 409, ...bodyRefusals) },
      },
    },
    async (req) =>
      answer(async () => {
        const input = await planRepair(client, req.params.id, {
          mode: 'resolve',
          operator: personOf(req).id,
          stepId: req.body.step,
          note: req.body.note,
        });
        return startRepair(client, opts.taskQueue, input);
      }),
  );
};
