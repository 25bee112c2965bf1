/**
 * What the parts of the job workflow share: the per-job context they are handed, the entries of the undo list, the
 * proxies of the tools and the audit trail, and small helpers. Per-job state lives only in the context object that
 * jobWorkflow builds, never in module variables.
 */
import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  proxyActivities,
  proxyLocalActivities,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { Activity, JobActivities } from '../src/core/contracts';
import type { FailureType } from '../src/core/failures';
import type {
  JobInput,
  JobState,
  JobStatus,
  PlannedStep,
  StepActivityOptions,
  StepError,
  ToolCall,
} from '../src/core/job';

/** One job run, as the step loop, the approval round and the finishing see it. Built once per run by jobWorkflow. */
export interface JobContext {
  readonly jobId: string;
  readonly input: JobInput;
  /** What the `jobState` query returns; the parts change it in place. */
  readonly state: JobState;
  /** What to compensate, in order done; pushed *before* each step runs (a timed-out action may have acted). */
  readonly undo: Undo[];
  /** Sets the job's status and its search attributes. */
  setStatus(status: JobStatus): void;
  /** Milliseconds left before the job's deadline (Infinity without one). */
  remainingMs(): number;
  /** Throws DeadlineExceeded when the deadline has passed before `what`. */
  checkDeadline(what: string): void;
  /** Waits out a pause-freeze; an abort-freeze stops the job. */
  honourFreeze(): Promise<void>;
  /**
   * Why the run takes no more actions, when it is ending (an agent session being closed): open approval requests
   * close and steps stop before acting. Jobs have none.
   */
  closing?(): string | undefined;
}

/** A step whose compensation runs if the job stops: the call its action ran with, and its output once it succeeded. */
export interface Undo {
  step: PlannedStep;
  call: ToolCall;
  output?: unknown;
}

/** Backoff shared by actions, compensations and channel notifications; attempts and timeouts come per step. */
export const RETRY_BACKOFF = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m' } as const;

// Audit writes are quick database inserts: local activities, retried until they succeed.
/** The job's audit trail: `job.started` and `job.finished`. */
export const jobAudit = proxyLocalActivities<JobActivities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', maximumInterval: '30s' },
});

function activityOptions(o: StepActivityOptions): ActivityOptions {
  return {
    startToCloseTimeout: o.startToCloseTimeoutMs,
    heartbeatTimeout: o.heartbeatTimeoutMs,
    retry: { ...RETRY_BACKOFF, maximumAttempts: o.maximumAttempts },
    // Compensations must not start while a cancelled action may still be acting.
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  };
}

/** The tools' actions and compensations, by activity name, with one step's timeouts and attempts. */
export function tools(o: StepActivityOptions): Record<string, Activity> {
  return proxyActivities<Record<string, Activity>>(activityOptions(o));
}

/** The innermost failure's message and type, for the query and the audit trail. */
export function describe(err: unknown): StepError {
  let cause: unknown = err;
  while (cause instanceof ActivityFailure && cause.cause) cause = cause.cause;
  if (cause instanceof ApplicationFailure) return { message: cause.message, type: cause.type ?? undefined };
  if (cause instanceof Error) return { message: cause.message, type: cause.name };
  return { message: String(cause) };
}

/** Workflow time (deterministic: the SDK replaces Date in workflows), as an ISO string. */
export const now = () => new Date().toISOString();

/** A non-retryable failure that stops the job. */
export const fail = (type: FailureType, message: string, details?: unknown) =>
  ApplicationFailure.create({
    type,
    message,
    nonRetryable: true,
    details: details === undefined ? undefined : [details],
  });
