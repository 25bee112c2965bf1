/**
 * The job vocabulary shared by the workflow, the worker, the API and the CLI.
 * Pure types and `as const` enums only: this module is bundled into workflow code.
 */
import type { GateInput } from './gate';

/** Risk classes, ordered from least to most dangerous. */
export const RiskClass = ['read', 'low', 'medium', 'high', 'critical'] as const;
export type RiskClass = (typeof RiskClass)[number];

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
} as const;
export type StepStatus = (typeof StepStatus)[keyof typeof StepStatus];

/** Stable failure `type` strings carried by ApplicationFailure across activities, workflows and clients. */
export const FailureType = {
  InvalidToolInput: 'InvalidToolInput',
  InvalidToolOutput: 'InvalidToolOutput',
  UnknownTool: 'UnknownTool',
  RefResolution: 'RefResolution',
  CommandFailed: 'CommandFailed',
  CommandTimedOut: 'CommandTimedOut',
  PathNotAllowed: 'PathNotAllowed',
  HostNotAllowed: 'HostNotAllowed',
  HttpClientError: 'HttpClientError',
  HttpServerError: 'HttpServerError',
  SecretMissing: 'SecretMissing',
  GitError: 'GitError',
  GitConflict: 'GitConflict',
  GitRefMoved: 'GitRefMoved',
  CompensationFailed: 'CompensationFailed',
  PolicyDenied: 'PolicyDenied',
  ApprovalRejected: 'ApprovalRejected',
  ApprovalTimedOut: 'ApprovalTimedOut',
  ApprovalMismatch: 'ApprovalMismatch',
  ApprovalRefused: 'ApprovalRefused',
  BudgetExceeded: 'BudgetExceeded',
  DeadlineExceeded: 'DeadlineExceeded',
  JobFrozen: 'JobFrozen',
  /** The policy's `maxRuntime` for the action ran out (retried like a timeout, within the policy's `retries`). */
  MaxRuntimeExceeded: 'MaxRuntimeExceeded',
} as const;
export type FailureType = (typeof FailureType)[keyof typeof FailureType];

/** Activity options chosen per step at submission (from the tool's definition), so the workflow never imports tools. */
export interface StepActivityOptions {
  startToCloseTimeoutMs: number;
  heartbeatTimeoutMs?: number;
  maximumAttempts: number;
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
  requester: string;
  context: Record<string, unknown>;
  budget: JobBudget;
  steps: PlannedStep[];
  compensationOptions: StepActivityOptions;
  /** Id of the API request that submitted the job: it is in every audit event, as in the logs. */
  requestId?: string;
  /** Where the outcome is POSTed when the job ends (HMAC-signed). */
  callbackUrl?: string;
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

export const ApprovalStatus = {
  Pending: 'pending',
  Approved: 'approved',
  Rejected: 'rejected',
  TimedOut: 'timed_out',
  Cancelled: 'cancelled',
} as const;
export type ApprovalStatus = (typeof ApprovalStatus)[keyof typeof ApprovalStatus];

/** A vote as delivered by a channel, after the channel resolved the human to a person of the directory. */
export interface Vote {
  requestId: string;
  approver: string;
  approverGroups: string[];
  channel: string;
  decision: 'approve' | 'reject';
  comment?: string;
  /** The input digest the approver was shown; a vote for another digest is void. */
  digest: string;
}

export interface RecordedVote extends Vote {
  at: string;
}

/** An approval request `<jobId>:<stepId>`, as channels render it and the `jobState` query shows it. */
export interface ApprovalRequest {
  id: string;
  jobId: string;
  stepId: string;
  title: string;
  agent: string;
  requester: string;
  action: string;
  risk: RiskClass;
  input: Record<string, unknown>;
  inputDigest: string;
  policyHash: string;
  ruleId: string;
  reason?: string;
  groups: string[];
  quorum: number;
  channels: string[];
  status: ApprovalStatus;
  votes: RecordedVote[];
  requestedAt: string;
  deadline: string;
  escalated: boolean;
  /** What has been done and would be undone on rejection, in the order it would be undone. */
  rollbackPlan: { stepId: string; action: string; compensation: string }[];
  closedAt?: string;
}

/** Answer to a vote: the request's state after it. */
export interface VoteResult {
  requestId: string;
  status: ApprovalStatus;
  approvals: number;
  quorum: number;
}

/** Answer of the `jobState` query. */
export interface JobState {
  jobId: string;
  agent: string;
  title: string;
  requester: string;
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

/** What approving a step takes, as the policy decided it (durations in ms, recorded in history). */
export interface ApprovalRequirement {
  groups: string[];
  quorum: number;
  channels: string[];
  timeoutMs: number;
  /** After the first timeout: reject, or ask these groups with a second timeout. */
  escalation?: { groups: string[]; quorum: number; timeoutMs: number };
}

/** Limits the workflow enforces on the action itself (the rest are judged by the policy activity). */
export interface ActionLimits {
  maxRuntimeMs?: number;
  retries?: number;
  writablePaths?: string[];
  /** Environment names that change what runs, allowed by the rule (see limits.allowEnv). */
  allowEnv?: string[];
}

export const Outcome = { Allow: 'allow', Deny: 'deny', RequireApproval: 'require_approval' } as const;
export type Outcome = (typeof Outcome)[keyof typeof Outcome];

/** One policy decision for one action: the provenance of every action (policy hash + rule id). */
export interface PolicyDecision {
  outcome: Outcome;
  /** Id of the rule that decided, or `default`. */
  ruleId: string;
  /** `sha256:<hex>` of the policy file's content: its version. */
  policyHash: string;
  reason?: string;
  approval?: ApprovalRequirement;
  limits?: ActionLimits;
  /** `sha256:<hex>` of the resolved input as RFC 8785 canonical JSON: an approval is bound to it. */
  inputDigest: string;
  cost: number;
  /** Set when a freeze covers this job: the job pauses or aborts instead of acting. */
  frozen?: FreezeEntry;
}

/** A kill switch, global (`agent` absent) or for one agent. */
export interface FreezeEntry {
  agent?: string;
  mode: 'pause' | 'abort';
  reason: string;
  by: string;
  at: string;
}

/** What the policy activity is asked. */
export interface PolicyRequest {
  jobId: string;
  stepId: string;
  /** 1 for the step's first decision, 2 when asked again: names the audit event. */
  decisionNo: number;
  requestId?: string;
  action: string;
  agent: string;
  caller: string;
  context: Record<string, unknown>;
  input: Record<string, unknown>;
}
