/**
 * The job vocabulary: what a job is (input, steps, budget), its states, what the action's activity is called with and
 * returns, and what the `jobState` query answers. Pure types and `as const` enums: bundled into workflow code.
 */
import type { ApprovalRequest } from './approval';
import { AuditEventType, type AuditEventInput } from './audit';
import type { AttestationKey } from './attestation';
import type { ActionLimits, FreezeEntry, PolicyDecision, RiskClass } from './decision';
import type { GateInput } from './gate';

/** Job states, exposed by the `jobState` query and the `AirlockStatus` search attribute. */
export const JobStatus = {
  Running: 'running',
  AwaitingApproval: 'awaiting_approval',
  Succeeded: 'succeeded',
  Failed: 'failed',
  Rejected: 'rejected',
  TimedOut: 'timed_out',
  Cancelled: 'cancelled',
  CompensationFailed: 'compensation_failed',
  /** Paused by a freeze until unfrozen (extends DESIGN.md's list). */
  Frozen: 'frozen',
  /**
   * After `compensation_failed`: every failed compensation was run again by a repair (`airlock compensate`). Set by the
   * repair workflow (`<jobId>:repair`, src/core/repair.ts); the job's own workflow has ended and keeps its status.
   */
  Compensated: 'compensated',
  /** After `compensation_failed`: what could not be undone was undone by hand (`airlock resolve`), the rest repaired. */
  ResolvedByHand: 'resolved_by_hand',
} as const;
export type JobStatus = (typeof JobStatus)[keyof typeof JobStatus];

export const StepStatus = {
  Pending: 'pending',
  Running: 'running',
  Succeeded: 'succeeded',
  Failed: 'failed',
  Denied: 'denied',
  AwaitingApproval: 'awaiting_approval',
  Rejected: 'rejected',
  Compensating: 'compensating',
  Compensated: 'compensated',
  CompensationFailed: 'compensation_failed',
  /**
   * The action may or may not have acted: it was started and then timed out or lost its worker, and cannot be retried
   * (faults-v1). Counted as spent; the policy's `onUnknownOutcome` decides whether it is compensated.
   */
  Unknown: 'unknown',
} as const;
export type StepStatus = (typeof StepStatus)[keyof typeof StepStatus];

/** Activity options chosen per step at submission (from the tool's definition), so the workflow never imports tools. */
export interface StepActivityOptions {
  startToCloseTimeoutMs: number;
  heartbeatTimeoutMs?: number;
  maximumAttempts: number;
  /**
   * The task queue the step's activities (action and compensation) run on, from AIRLOCK_TOOL_QUEUES at submission;
   * absent: the job's own queue. Absent in every job planned before tool queues, so their commands are unchanged.
   */
  taskQueue?: string;
}

/** A validated step, ready to run: the plan is computed once at submission and recorded in history. */
export interface PlannedStep {
  id: string;
  action: string;
  /** Input as submitted; may hold `{"$ref": "steps.<id>.output..."}` objects resolved just before the step runs. */
  input: Record<string, unknown>;
  risk: RiskClass;
  /** Activity type of the compensation, when the tool has one. */
  compensation?: string;
  options: StepActivityOptions;
}

export interface JobBudget {
  maxActions?: number;
  maxCost?: number;
  deadline?: string;
}

/** The workflow's input: a job after validation and planning. */
export interface JobInput {
  agent: string;
  title: string;
  /** The person who asked for the job (`requestedBy`), or the calling system when nobody was named. */
  requester: string;
  /** The system (API caller) that submitted the job; the policy's `caller`. Absent: the requester submitted it. */
  caller?: string;
  context: Record<string, unknown>;
  budget: JobBudget;
  steps: PlannedStep[];
  compensationOptions: StepActivityOptions;
  /** Id of the API request that submitted the job: it is in every audit event, as in the logs. */
  requestId?: string;
  /** Where the outcome is POSTed when the job ends (HMAC-signed). */
  callbackUrl?: string;
  /** The channel public keys whose attestations count as votes (set by the submitter from config). */
  attestationKeys?: AttestationKey[];
  /** The job this one retries (`airlock retry`): the same plan, every approval asked again. */
  retryOf?: RetryOrigin;
}

/** What a retry knows of the job it retries: shown in its state and in every approval request it makes. */
export interface RetryOrigin {
  jobId: string;
  /** How the original ended. */
  status: JobStatus;
  /** Why it ended so (the failure that stopped it). */
  error?: StepError;
  /** The operator who asked for the retry, and when. */
  by: string;
  at: string;
  reason?: string;
}

/** What the audit hears when a job ends, and what a completion callback carries. */
export interface JobOutcome {
  jobId: string;
  agent: string;
  status: JobStatus;
  error?: StepError;
  compensated: string[];
  spent: { actions: number; cost: number };
  startedAt: string;
  endedAt: string;
}

/** The first event of a job's trail: what was submitted, by whom (written once, key `submitted`). */
export function submittedEvent(jobId: string, job: Omit<JobInput, 'compensationOptions'>): AuditEventInput {
  return {
    jobId,
    key: 'submitted',
    type: AuditEventType.JobSubmitted,
    actor: job.requester,
    requestId: job.requestId,
    data: {
      agent: job.agent,
      title: job.title,
      context: job.context,
      budget: job.budget,
      steps: job.steps.map((s) => ({ id: s.id, action: s.action, risk: s.risk, input: s.input })),
      callbackUrl: job.callbackUrl ?? null,
      requester: job.requester,
      ...(job.caller ? { caller: job.caller } : {}),
      // The channel keys the job trusts: `airlock audit verify` checks every vote's attestation against them.
      ...(job.attestationKeys ? { attestationKeys: job.attestationKeys } : {}),
      // A retry names the job it retries (whose own trail is sealed: the link back is in its operations trail).
      ...(job.retryOf ? { retryOf: job.retryOf } : {}),
    },
  };
}

/** The job's end as its trail records it (`job.finished`). */
export function finishedEvent(outcome: JobOutcome, requestId?: string): AuditEventInput {
  return { jobId: outcome.jobId, key: 'finished', type: AuditEventType.JobFinished, requestId, data: { ...outcome } };
}

/**
 * Where a job's completion callback stands (faults-v1): delivered by a workflow of its own (`<jobId>:callback`) that
 * retries with backoff for days, after the job ended. `GET /v1/jobs/:id` shows it as `callback`.
 */
export interface CallbackStatus {
  state: 'delivering' | 'delivered' | 'failed';
  attempts: number;
  lastError?: StepError;
  nextAttemptAt?: string;
  deliveredAt?: string;
  gaveUpAt?: string;
}

/** What an activity receives: the resolved input plus the step's identity. */
export interface ToolCall {
  jobId: string;
  stepId: string;
  /** `<jobId>/<stepId>`: tools check it before acting, or pass it to the system they call. */
  idempotencyKey: string;
  input: Record<string, unknown>;
  /** Digest humans approved; the activity refuses to act on any other input. */
  approvedDigest?: string;
  /** Limits the tool enforces again at run time (paths are re-resolved when the action runs). */
  limits?: ActionLimits;
  /** The API request that submitted the job, for the audit trail. */
  requestId?: string;
  /** Set by jobs started since decisions moved into the action (`decideInAction`): the activity asks the policy. */
  decide?: DecideRequest;
  /**
   * Bytes of output that may enter workflow history (faults-v1): a larger output is stored outside (StoredOutputs) and
   * the activity returns a bounded copy (src/core/outputs.ts). Absent: the output is returned as is.
   */
  outputLimit?: number;
  /**
   * The job's submission, the first event of its trail, when no earlier action of the job has written it
   * (GENERATION_2): written first, in the same write as the decision.
   */
  opening?: AuditEventInput;
  /**
   * The job's end if this action acts and succeeds, its last (GENERATION_2): written in the same write as the
   * action's end, the trail's head signed with it. `spent` is before this action; the activity adds it and the time.
   */
  closing?: Omit<JobOutcome, 'endedAt'>;
}

/** What the action's activity needs to ask the policy itself, right before acting. */
export interface DecideRequest {
  /** 1 for the step's first decision, 2 when asked again: names the audit event. */
  decisionNo: number;
  action: string;
  agent: string;
  caller: string;
  context: Record<string, unknown>;
  /** How the decision is applied before acting: workflows/gate.ts. */
  gate: GateInput;
}

/** What the action's activity returns: the decision it acted on (or did not), and the tool's output. */
export interface ActionResult {
  decision: PolicyDecision;
  acted: boolean;
  /** Not acted because the action would break the job's cost budget. */
  overBudget?: boolean;
  /** The attempt that returned: when > 1 and nothing acted, an earlier attempt may have. */
  attempt: number;
  output?: unknown;
  /** The activity wrote the job's submission (`opening`). */
  opened?: boolean;
  /** The activity closed the job's trail (`closing`): the job's end time, as written there. */
  closedAt?: string;
}

/** What a compensation receives: the same call, plus the step's output when the step finished. */
export interface CompensationCall extends ToolCall {
  output?: unknown;
}

export interface StepError {
  message: string;
  type?: string;
}

export interface StepState {
  id: string;
  /** In an agent session: the MCP call that made this step. */
  callId?: string;
  action: string;
  risk: RiskClass;
  status: StepStatus;
  attempt?: number;
  input?: Record<string, unknown>;
  output?: unknown;
  error?: StepError;
  startedAt?: string;
  endedAt?: string;
  compensatedAt?: string;
  compensationError?: StepError;
  /** The policy decision(s) for this step, newest last: which policy version allowed what. */
  decisions?: DecisionRecord[];
}

export type DecisionRecord = Pick<
  PolicyDecision,
  'outcome' | 'ruleId' | 'policyHash' | 'reason' | 'inputDigest' | 'cost'
> & { at: string };

/** Answer of the `jobState` query. */
export interface JobState {
  jobId: string;
  /** `session` for an agent's MCP session (workflows/session.ts); absent for a planned job. */
  kind?: 'session';
  agent: string;
  title: string;
  requester: string;
  caller?: string;
  status: JobStatus;
  steps: StepState[];
  /** Step ids in the order their compensations ran. */
  compensated: string[];
  approvals: ApprovalRequest[];
  spent: { actions: number; cost: number };
  frozen?: FreezeEntry;
  error?: StepError;
  startedAt: string;
  endedAt?: string;
  /** The job this one retries. */
  retryOf?: RetryOrigin;
}

/** Result of a job that succeeded. Failed jobs end the workflow with a failure instead. */
export interface JobResult {
  status: typeof JobStatus.Succeeded;
  outputs: Record<string, unknown>;
}

/** The activity type of a tool's compensation. */
export function compensationActivityName(tool: string): string {
  return `${tool}.compensate`;
}
