/**
 * `airlock reset <jobId> --to-step <stepId>`: a running or stuck job taken back to the workflow task that scheduled a
 * step's action (a Temporal reset). Nothing given to the old run reaches the new one: no signal or update is
 * reapplied, so a vote given before the reset does not count and a step that needs humans asks again. Steps before
 * the point keep their results; the step and those after run again under the same idempotency keys
 * (`<jobId>/<stepId>`, not the run id), so an action that already acted finds its earlier result instead of acting
 * twice. Refused when the job has compensated (or is compensating) a step: the new run would either keep that step as
 * done while its change was undone, or re-run it and find its earlier action under the same key, leaving it undone.
 */
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { AuditEventType, type AuditSink } from '../core/audit';
import { NotFoundError, OperationRefusedError } from './errors';
import { readJob, type JobRecord } from './job';

type ResetRequest = Parameters<Client['workflowService']['resetWorkflowExecution']>[0];
type ResetResponse = Awaited<ReturnType<Client['workflowService']['resetWorkflowExecution']>>;

// From temporal.api.enums.v1 (the SDK's proto package, not a dependency of ours; numbers are the wire values).
const RESET_REAPPLY_TYPE_NONE = 2;
const RESET_REAPPLY_EXCLUDE_TYPE_SIGNAL = 1;
const RESET_REAPPLY_EXCLUDE_TYPE_UPDATE = 2;

export interface ResetPlan {
  jobId: string;
  runId: string;
  toStep: string;
  /** The WorkflowTaskCompleted event the job is reset to: the task that scheduled the step's action. */
  eventId: number;
  /** Steps whose results the new run keeps (they acted before the point). */
  kept: string[];
  /** Steps that run again (the first of them the one reset to). */
  rerun: string[];
  /** Votes the old run accepted after the point: none reaches the new run. */
  discardedVotes: number;
}

/** Where a reset to before `stepId` would take the job; refuses when the job's state does not allow it. */
export async function planReset(client: Client, jobId: string, stepId: string): Promise<ResetPlan> {
  const job = await readJob(client, jobId);
  if (job.execution !== 'RUNNING')
    throw new OperationRefusedError(
      'job_not_running',
      `job ${jobId} has ended (${job.status}): only a running job is reset; retry it instead (airlock retry)`,
    );
  const steps = job.input.steps.map((s) => s.id);
  if (!steps.includes(stepId))
    throw new NotFoundError(`job ${jobId} has no step ${stepId} (steps: ${steps.join(', ')})`);
  const actions = job.activities.filter((a) => !a.compensation && a.stepId);
  const target = actions.find((a) => a.stepId === stepId);
  if (!target?.workflowTaskCompletedEventId)
    throw new OperationRefusedError(
      'step_not_started',
      `step ${stepId} of job ${jobId} has not started: nothing to reset`,
    );
  const point = target.workflowTaskCompletedEventId;
  refuseAfterCompensation(job, point);
  const kept = steps.filter((id) =>
    actions.some((a) => a.stepId === id && a.outcome === 'completed' && a.closedEventId! < point),
  );
  return {
    jobId,
    runId: job.description.runId,
    toStep: stepId,
    eventId: point,
    kept,
    rerun: steps.slice(steps.indexOf(stepId)).filter((id) => actions.some((a) => a.stepId === id)),
    discardedVotes: job.history.events.filter(
      (e) =>
        Number(e.eventId) > point &&
        e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.name === 'decide',
    ).length,
  };
}

/** A compensated step cannot come back by a reset: refused, saying which and why. */
function refuseAfterCompensation(job: JobRecord, point: number): void {
  const undone = job.activities.filter((a) => a.compensation && a.stepId);
  if (!undone.length) return;
  const acted = (stepId: string) =>
    job.activities.find(
      (a) => !a.compensation && a.stepId === stepId && a.outcome === 'completed' && a.closedEventId! < point,
    );
  const lines = [...new Set(undone.map((a) => a.stepId!))].map((stepId) => {
    const how = undone.filter((a) => a.stepId === stepId).some((a) => a.outcome === 'completed')
      ? 'was compensated'
      : 'is being compensated';
    return acted(stepId)
      ? `step ${stepId} acted before that point and ${how}: the new run would keep it as done while its change was undone`
      : `step ${stepId} ${how}: the new run would run it again under the same idempotency key, find its earlier action and not act, leaving it undone`;
  });
  throw new OperationRefusedError(
    'compensated',
    `job ${job.jobId} cannot be reset to that point: ${lines.join('; ')}. Let it end and retry it (airlock retry): a new job acts under new keys`,
  );
}

/** Resets the job as planned; the old run is terminated, the new one continues from the point. */
export async function resetJob(
  client: Client,
  audit: AuditSink,
  plan: ResetPlan,
  operator: string,
  reason?: string,
): Promise<ResetPlan & { newRunId: string }> {
  const request = {
    namespace: client.options.namespace,
    workflowExecution: { workflowId: plan.jobId, runId: plan.runId },
    reason: `airlock reset by ${operator} to before step ${plan.toStep}${reason ? `: ${reason}` : ''}`,
    workflowTaskFinishEventId: plan.eventId,
    requestId: randomUUID(),
    // Nothing given to the old run reaches the new one: votes (updates) and signals are not reapplied.
    resetReapplyType: RESET_REAPPLY_TYPE_NONE,
    resetReapplyExcludeTypes: [RESET_REAPPLY_EXCLUDE_TYPE_SIGNAL, RESET_REAPPLY_EXCLUDE_TYPE_UPDATE],
  };
  // protobufjs takes a number for the int64 event id.
  const { runId: newRunId } = (await client.workflowService.resetWorkflowExecution(
    request as unknown as ResetRequest,
  )) as ResetResponse;
  await audit.append({
    jobId: plan.jobId,
    key: `reset:${newRunId}`,
    type: AuditEventType.JobReset,
    actor: operator,
    data: { ...plan, newRunId, ...(reason ? { reason } : {}) },
  });
  return { ...plan, newRunId: newRunId! };
}
