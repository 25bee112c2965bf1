/**
 * The audit vocabulary: event types, what an event carries, and the sink activities and channels write to (the
 * AuditStore implements it; the composition root hands it over). Audit writing from the activities. Every event key is derived from stable ids (job, step, attempt, approver), so an
 * activity that retries writes each event once.
 */

/**
 * An append to a job's trail after its head was signed (the job ended): refused, so the sealed trail keeps verifying
 * against its signature. What happens after the end is recorded outside the trail (AuditSink.recordOutsideTrail).
 */
export class AuditTrailSealedError extends Error {
  readonly code = 'audit_trail_sealed';
  constructor(readonly jobId: string) {
    super(`the audit trail of ${jobId} is sealed (its head is signed); nothing more is appended to it`);
    this.name = 'AuditTrailSealedError';
  }
}

/** Where activities write audit events: the AuditStore (on PostgreSQL, or PGlite for `airlock dev`). */
export interface AuditSink {
  /** Appends one event once; rejects with AuditTrailSealedError when the job's trail is sealed. */
  append(event: AuditEventInput): Promise<unknown>;
  /** Appends events of one job in order (in one write where it can); `seal`: they end the job, its head is signed. */
  appendAll(events: AuditEventInput[], opts?: { seal?: boolean }): Promise<unknown>;
  /** Signs the job's chain head when it ends. */
  signHead(jobId: string): Promise<unknown>;
  /** Records an event about a job whose trail is sealed (a vote after the end), beside the trail, never in it. */
  recordOutsideTrail?(event: AuditEventInput): Promise<unknown>;
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
  /** An operator retried the ended job as a new one (in the job's operations trail, `operationsTrailId`). */
  JobRetried: 'job.retried',
  /** An operator reset the running job to before a step (in the job's own trail: it is still running). */
  JobReset: 'job.reset',
  // A repair of a `compensation_failed` job (workflows/repair.ts), in its repair trail (`repairTrailId`).
  RepairStarted: 'repair.started',
  RepairCompensated: 'repair.compensated',
  RepairCompensationFailed: 'repair.compensation_failed',
  /** An operator says a step was undone by hand, with a note. */
  RepairResolvedByHand: 'repair.resolved_by_hand',
  RepairFinished: 'repair.finished',
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

/** The trail of what operators did to a job after it ended (`job.retried`): its own trail is sealed by then. */
export const operationsTrailId = (jobId: string) => `${jobId}/operations`;

/** The trail of a job's repairs (`airlock compensate`, `airlock resolve`): kept apart from the sealed job trail. */
export const repairTrailId = (jobId: string) => `${jobId}/repair`;

/**
 * The sink as workers and channels use it: an event about a job whose trail is already sealed (a refused vote after
 * the end; compensation run because the callback after the end was refused) is recorded beside the trail instead of
 * failing, so the sealed trail keeps verifying and the event is not lost. Without `recordOutsideTrail`, the
 * AuditTrailSealedError stands.
 */
export function besideSealedTrail(sink: AuditSink): AuditSink {
  const aside = sink.recordOutsideTrail?.bind(sink);
  if (!aside) return sink;
  const append = async (event: AuditEventInput) => {
    try {
      return await sink.append(event);
    } catch (err) {
      if (!(err instanceof AuditTrailSealedError)) throw err;
      return aside(event);
    }
  };
  return {
    append,
    async appendAll(events, opts) {
      try {
        return await sink.appendAll(events, opts);
      } catch (err) {
        if (!(err instanceof AuditTrailSealedError)) throw err;
        // One at a time: events already in the trail (a retry) answer as stored, the others go beside it.
        const out: unknown[] = [];
        for (const e of events) out.push(await append(e));
        return out;
      }
    },
    signHead: (jobId) => sink.signHead(jobId),
    recordOutsideTrail: aside,
  };
}
