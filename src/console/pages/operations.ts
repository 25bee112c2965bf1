/**
 * Operators' repairs from the console (README "Operating Airlock"): retry an ended job as a new linked one, reset a
 * running or stuck job to before a step, run a compensation_failed job's failed compensations again, record a step
 * undone by hand. Plain forms on the On call page and the job page, for operators only; each calls the same
 * functions the API's routes call (src/api/routes/operations.ts), and a refusal says why in words (the API's 409).
 */
import type { FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { personOf } from '../../api/access';
import { answerOperation } from '../../api/routes/operations';
import { JobStatus, type JobState } from '../../core/job';
import type { RepairState } from '../../core/repair';
import { planRepair, startRepair } from '../../operations/repair';
import { planReset, resetJob } from '../../operations/reset';
import { planRetry, RETRYABLE, startRetry } from '../../operations/retry';
import { operatorAuth } from '../auth';
import type { ConsoleDeps } from '../deps';
import { FINAL_STATUSES, redirectWith } from '../render';

/** How long a compensate/resolve form waits for the repair to end before saying it is still running. */
const REPAIR_WAIT_MS = 20_000;

/** An empty form field is no value. */
const blank = (v: unknown) => (typeof v === 'string' && v.trim() === '' ? undefined : v);
const params = z.object({ id: z.string().min(1) });
const stepId = z.string().min(1).max(64);
const reason = z.preprocess(blank, z.string().max(2000).optional());

/** Which repair forms a job gets, from its state and its latest repair. */
export interface OperationForms {
  jobId: string;
  title: string;
  /** Failed, timed out, rejected or cancelled: retry as a new job. */
  retry: boolean;
  /** Running or stuck: the steps whose action started, each a point to reset to before. */
  reset?: { id: string; label: string }[];
  /** compensation_failed and no repair running: the steps still not undone. */
  repair?: { id: string; action: string; error?: string }[];
  /** A repair of the job is running: no form until it ends. */
  repairing: boolean;
}

/** The repair forms for a job (the operations still refuse in words whatever the page offered). */
export function operationForms(state: JobState, repair: RepairState | undefined, stepWords: (s: string) => string) {
  const forms: OperationForms = {
    jobId: state.jobId,
    title: state.title,
    retry: RETRYABLE.includes(state.status),
    repairing: repair?.status === 'repairing',
  };
  if (!FINAL_STATUSES.has(state.status)) {
    const started = state.steps.filter((s) => s.startedAt);
    if (started.length) forms.reset = started.map((s) => ({ id: s.id, label: `${s.id} (${stepWords(s.status)})` }));
  }
  if (state.status === JobStatus.CompensationFailed && !forms.repairing) {
    const left = repair
      ? repair.steps
          .filter((s) => s.status === 'compensation_failed')
          .map((s) => ({ id: s.stepId, action: s.action, error: s.error?.message }))
      : state.steps
          .filter((s) => s.status === 'compensation_failed')
          .map((s) => ({ id: s.id, action: s.action, error: s.compensationError?.message }));
    if (left.length) forms.repair = left;
  }
  return forms;
}

const list = (ids: string[]) => (ids.length ? ids.join(', ') : 'none');
const plural = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`;

/** How a repair left the job, in words. */
export function repairWords(state: RepairState): string {
  switch (state.status) {
    case 'repairing':
      return 'The repair is still running; the job page shows how it ends.';
    case JobStatus.Compensated:
      return 'Every step that could not be undone is undone now.';
    case JobStatus.ResolvedByHand:
      return 'Nothing is left to undo: what could not be undone is recorded as undone by hand.';
    default: {
      const left = state.steps.filter((s) => s.status === 'compensation_failed');
      return `Undoing still fails: ${left.map((s) => `step ${s.stepId}${s.error ? ` (${s.error.message})` : ''}`).join('; ')}. Fix the cause and compensate again, or undo it by hand and resolve.`;
    }
  }
}

export const operationPages: FastifyPluginAsyncZod<ConsoleDeps> = async (app, { access, operations }) => {
  const { client, taskQueue } = operations;
  const config = (what: string) => ({
    auth: operatorAuth(access.operatorGroups, what),
    auditJob: (req: FastifyRequest) => (req.params as { id?: string }).id,
  });
  const jobPage = (id: string) => `/console/jobs/${encodeURIComponent(id)}`;

  app.post(
    '/console/jobs/:id/retry',
    {
      config: config('retry jobs'),
      preHandler: app.csrfProtection,
      schema: { hide: true, params, body: z.object({ _csrf: z.string().optional(), reason }) },
    },
    async (req, reply) => {
      const plan = await answerOperation(async () => {
        const planned = await planRetry(operations, req.params.id, personOf(req).id, {
          reason: req.body.reason,
          requestId: req.id,
        });
        await startRetry(operations, planned);
        return planned;
      });
      const asking = plan.steps.filter((s) => s.asksApproval).map((s) => s.id);
      return redirectWith(
        req,
        reply,
        jobPage(plan.retryJobId),
        `You retried job ${plan.jobId} as this new job, ${plan.retryJobId}.` +
          (asking.length
            ? ` Approvals are asked again (step ${asking.join(', ')}), saying why the original ended.`
            : ' No step needs an approval under today’s policy.') +
          (plan.policy.changed === true ? ' The policy has changed since the original ran.' : ''),
      );
    },
  );

  app.post(
    '/console/jobs/:id/reset',
    {
      config: config('reset jobs'),
      preHandler: app.csrfProtection,
      schema: { hide: true, params, body: z.object({ _csrf: z.string().optional(), toStep: stepId, reason }) },
    },
    async (req, reply) => {
      const done = await answerOperation(async () =>
        resetJob(
          client,
          operations.audit,
          await planReset(client, req.params.id, req.body.toStep),
          personOf(req).id,
          req.body.reason,
        ),
      );
      return redirectWith(
        req,
        reply,
        jobPage(done.jobId),
        `You reset the job to before step ${done.toStep}. Kept: ${list(done.kept)}; run again: ${list(done.rerun)}` +
          ` (under the same idempotency keys, so nothing that already acted acts twice).` +
          (done.discardedVotes
            ? ` ${plural(done.discardedVotes, 'vote', 'votes')} given to the old run no longer count: approvals are asked again.`
            : ''),
      );
    },
  );

  app.post(
    '/console/jobs/:id/compensate',
    {
      config: config('compensate jobs'),
      preHandler: app.csrfProtection,
      schema: {
        hide: true,
        params,
        body: z.object({ _csrf: z.string().optional(), step: z.preprocess(blank, stepId.optional()) }),
      },
    },
    async (req, reply) => {
      const state = await answerOperation(async () =>
        startRepair(
          client,
          taskQueue,
          await planRepair(client, req.params.id, {
            mode: 'compensate',
            operator: personOf(req).id,
            stepId: req.body.step,
          }),
          REPAIR_WAIT_MS,
        ),
      );
      return redirectWith(
        req,
        reply,
        jobPage(state.jobId),
        `You ran the failed compensations${req.body.step ? ` of step ${req.body.step}` : ''} again. ${repairWords(state)}`,
      );
    },
  );

  app.post(
    '/console/jobs/:id/resolve',
    {
      config: config('resolve jobs by hand'),
      preHandler: app.csrfProtection,
      schema: {
        hide: true,
        params,
        body: z.object({
          _csrf: z.string().optional(),
          step: stepId,
          note: z.string().trim().min(1, 'say what you did by hand').max(4000),
        }),
      },
    },
    async (req, reply) => {
      const state = await answerOperation(async () =>
        startRepair(
          client,
          taskQueue,
          await planRepair(client, req.params.id, {
            mode: 'resolve',
            operator: personOf(req).id,
            stepId: req.body.step,
            note: req.body.note,
          }),
          REPAIR_WAIT_MS,
        ),
      );
      return redirectWith(
        req,
        reply,
        jobPage(state.jobId),
        `You recorded step ${req.body.step} as undone by hand. ${repairWords(state)}`,
      );
    },
  );
};
