/**
 * The audit vocabulary: event types, what an event carries, and the sink activities and channels write to (the
 * AuditStore implements it; the composition root hands it over). Audit writing from the activities. Every event key is derived from stable ids (job, step, attempt, approver), so an
 * activity that retries writes each event once.
 */

/** Where activities write audit events: the AuditStore (on PostgreSQL, or PGlite for `airlock dev`). */
export interface AuditSink {
  append(event: AuditEventInput): Promise<unknown>;
  /** Appends events of one job in order (in one write where it can). */
  appendAll(events: AuditEventInput[]): Promise<unknown>;
  /** Signs the job's chain head when it ends. */
  signHead(jobId: string): Promise<unknown>;
}

export const AuditEventType = {
  JobSubmitted: 'job.submitted',
  PolicyDecision: 'policy.decision',
  ApprovalRequested: 'approval.requested',
  ApprovalEscalated: 'approval.escalated',
  ApprovalVote: 'approval.vote',
  ApprovalClosed: 'approval.closed',
  /** A vote the workflow refused (who tried, and why): written by the channel that delivered it. */
  ApprovalRefused: 'approval.refused',
  ActionStarted: 'action.started',
  ActionFinished: 'action.finished',
  ActionFailed: 'action.failed',
  CompensationFinished: 'compensation.finished',
  CompensationFailed: 'compensation.failed',
  JobFinished: 'job.finished',
  /**
   * The completion callback gave up. Written after the job's trail was sealed, so into a trail of its own:
   * `callbackTrailId(jobId)`.
   */
  CallbackFailed: 'callback.failed',
} as const;
export type AuditEventType = (typeof AuditEventType)[keyof typeof AuditEventType];

export interface AuditEventInput {
  jobId: string;
  /** Unique per job; a second append with the same key returns the first event. */
  key: string;
  type: AuditEventType;
  actor?: string;
  requestId?: string;
  data: Record<string, unknown>;
}

/** The trail of what happens after a job ended (its callback): kept apart, so the job's sealed trail stays sealed. */
export const callbackTrailId = (jobId: string) => `${jobId}/callback`;
