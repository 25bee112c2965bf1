/**
 * What the parts of the job workflow share: the per-job context they are handed, the entries of the undo list, the
 * proxies of the tools and the audit trail, and small helpers. Per-job state lives only in the context object that
 * jobWorkflow builds, never in module variables.
 */
import {
  ActivityCancellationType,
  CancellationScope,
  ActivityFailure,
  ApplicationFailure,
  proxyActivities,
  proxyLocalActivities,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { ApprovalRequest } from '../src/core/approval';
import type { AuditEventInput } from '../src/core/audit';
import type { Activity, ApprovalEvent, JobActivities } from '../src/core/contracts';
import type { FailureType } from '../src/core/failures';
import type {
  JobInput,
  JobOutcome,
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
   * The job started with the `faults-v1` patch (FAULTS_V1 in job.ts): what happens after its end cannot undo it,
   * channels are told in the background, paused jobs re-check the freeze, outputs are bounded, compensations retry
   * until they succeed, an action that may have acted is `unknown`.
   */
  readonly faults: boolean;
  /** The run started with GENERATION_2. */
  readonly generation2: boolean;
  /** The approval notifier of this job, once a request was announced (faults-v1, notifier.ts). */
  notifier?: Notifier;
  /**
   * Why the run takes no more actions, when it is ending (an agent session being closed): open approval requests
   * close and steps stop before acting. Jobs have none.
   */
  closing?(): string | undefined;
  /**
   * Held while one of the run's steps decides and acts, when its steps may run side by side (an agent session) and a
   * budget limits them: each step then checks the budget and acts only after the one before it has counted what it
   * spent. Jobs run their steps one after another and have none.
   */
  actionLock?: { holder?: string };
  /**
   * The job's submission, until one of its actions has written it (GENERATION_2):
   * the next action's activity writes it first; if none does, the job's end does.
   */
  opening?: AuditEventInput;
  /** When the job's last action closed its trail with its own (GENERATION_2): the end time written there. */
  closedAt?: string;
}

/**
 * The patch that starts generation 2 of the job and session workflows. A run with its marker asks no older patch
 * (each `patched()` records a marker and upserts TemporalChangeVersion, a visibility write, per run: one now instead
 * of up to four) and takes what they brought, and:
 *   - a job's actions open and close its audit trail (step.ts: ToolCall.opening and closing): `job.started` and
 *     `job.finished` run only when they cannot (a job ending before its first action, or not by its last);
 *   - an action never scheduled (its scope cancelled first) is not compensated, unless an earlier attempt may have
 *     acted;
 *   - a session's calls do not restart its idle timer (session.ts).
 * A run started by a worker from before (a rolling deploy) has no marker and keeps its older path on every worker.
 */
export const GENERATION_2 = 'generation-2';

/** Tells channels about approval requests in the background (workflows/notifier.ts). */
export interface Notifier {
  /** Queues a notification; never blocks on, or fails with, a channel. */
  notify(request: ApprovalRequest, event: ApprovalEvent): void;
  /** The job ended: the notifier finishes what is queued, then stops. */
  done(): Promise<void>;
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
    // 0 attempts: unlimited (Temporal's default when none is given).
    retry: { ...RETRY_BACKOFF, ...(o.maximumAttempts > 0 ? { maximumAttempts: o.maximumAttempts } : {}) },
    // Compensations must not start while a cancelled action may still be acting.
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    // Data, not code: only plans that name a queue set it, so jobs planned before tool queues issue the same commands.
    ...(o.taskQueue ? { taskQueue: o.taskQueue } : {}),
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

/**
 * Writes the job's submission now if none of its actions has (GENERATION_2), before anything else enters its trail.
 * A write refused for good is left to the job's end, which writes it with the end and fails the job if refused again.
 */
export async function openTrail(ctx: JobContext): Promise<void> {
  if (!ctx.opening) return;
  const { compensationOptions: _, ...job } = ctx.input;
  try {
    await CancellationScope.nonCancellable(() => jobAudit['job.started'](ctx.jobId, job));
    ctx.opening = undefined;
  } catch {
    // left for finish
  }
}

/** The job's end as its trail records it, but the time: `finish`, and its last action when that closes the trail. */
export function jobOutcome(ctx: Pick<JobContext, 'jobId' | 'input' | 'state'>, status: JobStatus) {
  const { jobId, input, state } = ctx;
  const outcome: Omit<JobOutcome, 'endedAt'> = {
    jobId,
    agent: input.agent,
    status,
    ...(state.error ? { error: state.error } : {}),
    compensated: state.compensated,
    spent: state.spent,
    startedAt: state.startedAt,
  };
  return outcome;
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
