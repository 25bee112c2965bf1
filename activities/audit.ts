/**
 * Audit writing from the activities. Every event key is derived from stable ids (job, step, attempt, approver), so an
 * activity that retries writes each event once.
 */
import type { AuditEventInput } from '../src/audit/store';

/** Where activities write audit events: the AuditStore (on PostgreSQL, or PGlite for `airlock dev`). */
export interface AuditSink {
  append(event: AuditEventInput): Promise<unknown>;
  /** Appends events of one job in order (in one write where it can). */
  appendAll(events: AuditEventInput[]): Promise<unknown>;
  /** Signs the job's chain head when it ends. */
  signHead(jobId: string): Promise<unknown>;
}
