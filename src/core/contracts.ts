/**
 * The activities the job workflow proxies, as interfaces: the workflow imports these (never the activities
 * themselves), and each activity factory is declared to return one, so the two cannot drift apart.
 */
import type { ApprovalRequest } from './approval';
import type { AuditEventInput } from './audit';
import type { ApprovalRequirement, FreezeEntry, PolicyDecision, PolicyRequest } from './decision';
import type { CallbackStatus, CompensationCall, JobInput, JobOutcome, ToolCall } from './job';

/** A tool's action (`<tool>`) or compensation (`<tool>.compensate`) activity. */
export type Activity = (call: ToolCall | CompensationCall) => Promise<unknown>;

/** Asks the policy about one action: the decision, and its audit event to write before anything acts. */
export type Decider = (
  req: PolicyRequest,
  attempt: number,
) => Promise<{ decision: PolicyDecision; event: AuditEventInput }>;

/** Where the current freezes are read from (src/freeze.ts keeps them in Temporal). */
export interface FreezeReader {
  lookup(agent: string): Promise<FreezeEntry | undefined>;
}

/** A job's first and last activities (activities/job.ts). */
export interface JobActivities {
  'job.started'(jobId: string, job: Omit<JobInput, 'compensationOptions'>): Promise<void>;
  /** Closes the trail; `opening`: the job's submission, when none of its actions may have written it. */
  'job.finished'(outcome: JobOutcome, requestId?: string, opening?: AuditEventInput): Promise<void>;
  'job.callback'(url: string, outcome: JobOutcome): Promise<void>;
  /** The callback's delivery gave up: `callback.failed` in the job's callback trail (callbackTrailId), metered. */
  'job.callbackFailed'(url: string, outcome: JobOutcome, status: CallbackStatus): Promise<void>;
}

/** A repair's audit events (workflows/repair.ts), in the job's repair trail: the job's own is sealed. */
export interface RepairActivities {
  'repair.record'(event: AuditEventInput): Promise<void>;
}

/** A request's life in the audit trail and on every channel it names (approvals/channel.ts). */
export interface ApprovalActivities {
  'approvals.announce'(request: ApprovalRequest, event: 'requested' | 'escalated'): Promise<void>;
  'approvals.update'(request: ApprovalRequest): Promise<void>;
  /**
   * faults-v1: the audit part of announce/update alone (requested, escalated, votes, closed). Quick and reliable: the
   * workflow awaits it on the decision path.
   */
  'approvals.record'(request: ApprovalRequest, event: ApprovalEvent): Promise<void>;
  /**
   * faults-v1: tells one channel entry of the request (`slack:C0123`) about it; throws when the channel failed, so it is
   * retried in the background (workflows/notifier.ts), never on the decision path.
   */
  'approvals.notify'(request: ApprovalRequest, event: ApprovalEvent, channel: string): Promise<void>;
}

/** What happened to a request: asked, asked of the escalation groups, or votes/closing (`update`). */
export type ApprovalEvent = 'requested' | 'escalated' | 'update';

/** The freeze in force for an agent (global or its own), read afresh: a paused job re-checks it (faults-v1). */
export interface FreezeActivities {
  'freeze.lookup'(agent: string): Promise<FreezeEntry | null>;
}

/** What the policy says to do about a step whose outcome is unknown (`onUnknownOutcome`), asked when it happens. */
export interface UnknownOutcomeRule {
  /** Ask these humans "did it happen?"; absent: compensate as if it acted. */
  ask?: ApprovalRequirement;
  policyHash: string;
  /** The digest votes on the question are bound to (the step's input). */
  inputDigest: string;
  /** What the action costs, counted as spent since it may have acted (absent in results recorded before it). */
  cost?: number;
}

/** The decision as a local activity of its own, for jobs started before the `decide-in-action` patch. */
export interface PolicyActivities {
  'policy.evaluate'(req: PolicyRequest): Promise<PolicyDecision>;
  /** faults-v1: the policy's `onUnknownOutcome` for a step that may or may not have acted. */
  'policy.onUnknownOutcome'(req: {
    agent: string;
    action: string;
    input: Record<string, unknown>;
  }): Promise<UnknownOutcomeRule>;
}
