/**
 * A job as a person reads it top to bottom: built from the workflow's state (steps, decisions, approvals, what was
 * undone) and its audit trail (what was asked for, the budget, whether the chain verifies).
 */
import { createHash } from 'node:crypto';
import type { AuditStore } from '../../audit/store';
import { AuditEventType } from '../../core/audit';
import type { JobBudget, JobState } from '../../core/job';
import type { Person } from '../../core/people';
import { requestView } from './decide';

export interface Submitted {
  budget: JobBudget;
  steps: { id: string; action: string; risk: string; input: unknown }[];
  context?: Record<string, unknown>;
}

/** Whether the job's trail is complete (its job.finished event written): the page changes no more. */
export async function trailEnded(audit: AuditStore, jobId: string): Promise<boolean> {
  return (await audit.events(jobId)).some((e) => e.type === AuditEventType.JobFinished);
}

/** What the audit's job.submitted event says was asked for (inputs already redacted by the store). */
export async function submittedOf(audit: AuditStore, jobId: string): Promise<Submitted | undefined> {
  const events = await audit.events(jobId);
  const e = events.find((x) => x.type === AuditEventType.JobSubmitted);
  return e ? (e.data as unknown as Submitted) : undefined;
}

/** Changes whenever anything shown on the job page changes: the live script compares it. */
export function stateVersion(state: JobState): string {
  return createHash('sha256').update(JSON.stringify(state)).digest('hex').slice(0, 16);
}

export async function jobView(audit: AuditStore, state: JobState, person: Person) {
  const [events, verification, head] = await Promise.all([
    audit.events(state.jobId),
    audit.verify(state.jobId),
    audit.head(state.jobId),
  ]);
  const submitted = events.find((x) => x.type === AuditEventType.JobSubmitted)?.data as unknown as
    Submitted | undefined;
  const steps = state.steps.map((s, i) => ({
    ...s,
    n: i + 1,
    wanted: submitted?.steps.find((w) => w.id === s.id)?.input,
    approvals: state.approvals.filter((r) => r.stepId === s.id).map((r) => requestView(person, r)),
  }));
  const undoneOrder = state.compensated.map((id) => state.steps.find((s) => s.id === id) ?? { id, action: '' });
  return {
    job: state,
    steps,
    undoneOrder,
    budget: submitted?.budget ?? {},
    verification,
    signed: Boolean(head?.signature),
    /** The trail has its last event: nothing on the page changes any more. */
    ended: events.some((e) => e.type === AuditEventType.JobFinished),
    version: stateVersion(state),
  };
}
