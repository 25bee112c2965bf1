/**
 * The activities the job workflow proxies, as interfaces: the workflow imports these (never the activities
 * themselves), and each activity factory is declared to return one, so the two cannot drift apart.
 */
import type { ApprovalRequest } from './approval';
import type { AuditEventInput } from './audit';
import type { FreezeEntry, PolicyDecision, PolicyRequest } from './decision';
import type { CompensationCall, JobInput, JobOutcome, ToolCall } from './job';

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
  'job.finished'(outcome: JobOutcome, requestId?: string): Promise<void>;
  'job.callback'(url: string, outcome: JobOutcome): Promise<void>;
}

/** A request's life in the audit trail and on every channel it names (approvals/channel.ts). */
export interface ApprovalActivities {
  'approvals.announce'(request: ApprovalRequest, event: 'requested' | 'escalated'): Promise<void>;
  'approvals.update'(request: ApprovalRequest): Promise<void>;
}

/** The decision as a local activity of its own, for jobs started before the `decide-in-action` patch. */
export interface PolicyActivities {
  'policy.evaluate'(req: PolicyRequest): Promise<PolicyDecision>;
}
