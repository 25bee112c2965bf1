/**
 * `airlock retry <jobId>`: a job that ended failed, timed_out, rejected or cancelled, run again as a new job with the
 * same plan. Linked both ways: the new job's input and state carry `retryOf` (and its AirlockRetryOf search
 * attribute), the old job's operations trail a `job.retried` event, and reading the old job finds its retries by that
 * search attribute. Human decisions are never carried over: the new job asks every approval again, and each request
 * says it is a retry and why the original ended.
 */
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { ToolRegistry } from '../../activities/registry';
import { AuditEventType, operationsTrailId, type AuditSink } from '../core/audit';
import type { AttestationKey } from '../core/attestation';
import type { FreezeReader } from '../core/contracts';
import { JobStatus, type JobInput, type RetryOrigin, type StepError } from '../core/job';
import { jobIdSchema } from '../core/job-schema';
import { airlockRetryOfKey } from '../core/search-attributes';
import { decideAction } from '../policy/decide';
import type { PolicyStore } from '../policy/store';
import { startPlannedJob } from '../jobs/submit';
import { OperationRefusedError } from './errors';
import { failureChain } from './history';
import { jobState, readJob, retriesOf, type JobRecord } from './job';

/** The end states a job may be retried from. */
export const RETRYABLE: string[] = [JobStatus.Failed, JobStatus.TimedOut, JobStatus.Rejected, JobStatus.Cancelled];

export interface RetryDeps {
  client: Client;
  taskQueue: string;
  registry: ToolRegistry;
  policy: PolicyStore;
  audit: AuditSink;
  freeze?: FreezeReader;
  /** The channel keys the new job trusts (today's, not the original's). */
  attestationKeys: AttestationKey[];
}

export interface RetryPlan {
  jobId: string;
  /** The new job's id. */
  retryJobId: string;
  retryOf: RetryOrigin;
  steps: { id: string; action: string; decision: string; rule: string; asksApproval: boolean; inputKnown: boolean }[];
  policy: { original: string[]; current: string; changed: boolean | 'unknown' };
  input: JobInput;
}

/** What a retry would run, deciding each step with today's policy; refuses a job that may not be retried. */
export async function planRetry(
  deps: RetryDeps,
  jobId: string,
  operator: string,
  opts: { reason?: string; requestId?: string } = {},
): Promise<RetryPlan> {
  const job = await readJob(deps.client, jobId);
  if (job.execution === 'RUNNING')
    throw new OperationRefusedError(
      'job_running',
      `job ${jobId} is still ${job.status}: a running job is reset (airlock reset) or cancelled, not retried`,
    );
  if (!RETRYABLE.includes(job.status))
    throw new OperationRefusedError(
      'not_retryable',
      job.status === JobStatus.CompensationFailed
        ? `job ${jobId} ended compensation_failed: repair it first (airlock compensate / airlock resolve), then retry`
        : `job ${jobId} ended ${job.status}; only ${RETRYABLE.join(', ')} jobs are retried`,
    );
  const state = await jobState(deps.client, jobId);
  const retryOf: RetryOrigin = {
    jobId,
    status: job.status as JobStatus,
    ...(state.error ? { error: state.error } : failure(job)),
    by: operator,
    at: new Date().toISOString(),
    ...(opts.reason ? { reason: opts.reason } : {}),
  };
  const { input } = job;
  const retried = await retriesOf(deps.client, jobId);
  const input2: JobInput = {
    ...input,
    budget: shiftedBudget(input, job),
    attestationKeys: deps.attestationKeys,
    retryOf,
    ...(opts.requestId ? { requestId: opts.requestId } : {}),
  };
  if (!opts.requestId) delete input2.requestId;
  const current = deps.policy.current();
  const steps = await Promise.all(
    input.steps.map(async (step, i) => {
      // The input the original resolved ($refs filled) when it got that far; the planned one otherwise.
      const resolved = state.steps[i]?.input;
      const { decision } = await decideAction(
        { policy: deps.policy, registry: deps.registry, freeze: { lookup: async () => undefined } },
        {
          jobId,
          stepId: step.id,
          decisionNo: 1,
          action: step.action,
          agent: input.agent,
          caller: input.caller ?? input.requester,
          context: input.context,
          input: resolved ?? step.input,
        },
      );
      return {
        id: step.id,
        action: step.action,
        decision: decision.outcome,
        rule: decision.ruleId,
        asksApproval: decision.outcome === 'require_approval',
        inputKnown: resolved !== undefined || !JSON.stringify(step.input).includes('"$ref"'),
      };
    }),
  );
  const original = [...new Set(state.steps.flatMap((s) => (s.decisions ?? []).map((d) => d.policyHash)))];
  const candidate = `${jobId}.retry-${retried.length + 1}`;
  return {
    jobId,
    retryJobId: jobIdSchema.safeParse(candidate).success ? candidate : `job-${randomUUID()}`,
    retryOf,
    steps,
    policy: {
      original,
      current: current.hash,
      changed: original.length ? original.some((h) => h !== current.hash) : 'unknown',
    },
    input: input2,
  };
}

/** Starts the retry planned by planRetry and records the link in the original's operations trail. */
export async function startRetry(deps: RetryDeps, plan: RetryPlan): Promise<{ jobId: string; retryJobId: string }> {
  try {
    await startPlannedJob(deps.client, plan.input, {
      taskQueue: deps.taskQueue,
      jobId: plan.retryJobId,
      freeze: deps.freeze,
      searchAttributes: [{ key: airlockRetryOfKey, value: plan.jobId }],
    });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError)
      throw new OperationRefusedError(
        'already_retried',
        `job ${plan.jobId} was just retried as ${plan.retryJobId}; retry again once that one has ended`,
      );
    throw err;
  }
  await deps.audit.append({
    jobId: operationsTrailId(plan.jobId),
    key: `retried-by:${plan.retryJobId}`,
    type: AuditEventType.JobRetried,
    actor: plan.retryOf.by,
    data: {
      jobId: plan.jobId,
      retriedBy: plan.retryJobId,
      status: plan.retryOf.status,
      ...(plan.retryOf.error ? { error: plan.retryOf.error } : {}),
      ...(plan.retryOf.reason ? { reason: plan.retryOf.reason } : {}),
    },
  });
  return { jobId: plan.jobId, retryJobId: plan.retryJobId };
}

/** The workflow's failure when the state has none (a job that never got to record it). */
function failure(job: JobRecord): { error?: StepError } {
  const closed = job.history.events[job.history.events.length - 1];
  const chain = failureChain(closed?.workflowExecutionFailedEventAttributes?.failure);
  return chain.length ? { error: { message: chain.join(' ← ') } } : {};
}

/** The original's deadline, as the same time allowed from now (an absolute deadline has passed by then). */
function shiftedBudget(input: JobInput, job: JobRecord): JobInput['budget'] {
  const { deadline, ...rest } = input.budget;
  if (!deadline) return rest;
  const allowed = Date.parse(deadline) - job.description.startTime.getTime();
  return { ...rest, deadline: new Date(Date.now() + Math.max(allowed, 60_000)).toISOString() };
}
