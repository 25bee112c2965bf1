/**
 * What an operator paged at night needs about a job beyond its state: the failure chain (activity failure → cause),
 * each failed or pending activity's attempts, its last heartbeat and the worker that ran it, the Temporal UI page;
 * and the links: the retries of it, the job it retries, its repair.
 */
import type { Client } from '@temporalio/client';
import { JobStatus, type JobState } from '../core/job';
import type { RepairState } from '../core/repair';
import { failureChain, type JsonFailure } from './history';
import { readJob, readRepair, retriesOf } from './job';

export interface ActivityTriage {
  stepId?: string;
  activity: string;
  outcome: string;
  attempts: number;
  /** The worker identity that ran the last attempt. */
  worker?: string;
  /** The failure and its causes, outermost first. */
  failure?: string[];
  /** Pending activities only: when it last heartbeat, and when its next attempt is due. */
  lastHeartbeat?: string;
  nextAttemptAt?: string;
}

export interface Triage {
  /** The workflow's page in the Temporal UI. */
  temporalUi: string;
  /** Temporal's execution status. */
  execution: string;
  /** Why the workflow failed, outermost first. */
  failure?: string[];
  activities: ActivityTriage[];
}

/** The job's state with what operators need: triage (unless it succeeded), retries, repair. */
export interface JobView extends Omit<JobState, 'status'> {
  /** The job's status; after a repair, how the repair left it (`compensated`, `resolved_by_hand`). */
  status: string;
  retriedBy: string[];
  repair?: RepairState;
  triage?: Triage;
}

/** The Temporal UI page of a workflow. */
export const temporalUiLink = (uiUrl: string, namespace: string, workflowId: string) =>
  `${uiUrl}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}`;

/** Adds retries, repair and triage to a job's state. */
export async function jobView(client: Client, state: JobState, uiUrl: string): Promise<JobView> {
  // Agent sessions are not retried, reset or repaired (readJob reads planned jobs only): their state is their view.
  if (state.kind === 'session') return { ...state, retriedBy: [] };
  const [retriedBy, repair] = await Promise.all([retriesOf(client, state.jobId), readRepair(client, state.jobId)]);
  const repaired = repair && repair.status !== 'repairing' && repair.status !== JobStatus.CompensationFailed;
  return {
    ...state,
    status: repaired ? repair.status : state.status,
    retriedBy,
    ...(repair ? { repair } : {}),
    ...(state.status === JobStatus.Succeeded ? {} : { triage: await triage(client, state.jobId, uiUrl) }),
  };
}

interface PendingActivityProto {
  activityType?: { name?: string | null } | null;
  attempt?: number | null;
  lastHeartbeatTime?: { seconds?: unknown; nanos?: number | null } | null;
  lastWorkerIdentity?: string | null;
  lastFailure?: JsonFailure | null;
  nextAttemptScheduleTime?: { seconds?: unknown; nanos?: number | null } | null;
}

const tsToIso = (ts?: { seconds?: unknown; nanos?: number | null } | null) =>
  ts?.seconds === undefined || ts.seconds === null
    ? undefined
    : new Date(Number(ts.seconds) * 1000 + Math.floor((ts.nanos ?? 0) / 1e6)).toISOString();

/** The triage of one job from its history and, while it runs, its pending activities. */
export async function triage(client: Client, jobId: string, uiUrl: string): Promise<Triage> {
  const job = await readJob(client, jobId);
  const closed = job.history.events[job.history.events.length - 1];
  const failure = failureChain(closed?.workflowExecutionFailedEventAttributes?.failure);
  const activities: ActivityTriage[] = job.activities
    .filter((a) => a.outcome === 'failed' || a.outcome === 'timed_out')
    .map((a) => ({
      ...(a.stepId ? { stepId: a.stepId } : {}),
      activity: a.type,
      outcome: a.outcome,
      attempts: a.attempts,
      ...(a.lastIdentity ? { worker: a.lastIdentity } : {}),
      ...(a.failure ? { failure: failureChain(a.failure) } : {}),
    }));
  const pending = (job.description.raw.pendingActivities ?? []) as PendingActivityProto[];
  const scheduled = job.activities.filter((a) => a.outcome === 'pending');
  for (const p of pending) {
    const type = p.activityType?.name ?? '?';
    const record = scheduled.find((a) => a.type === type);
    activities.push({
      ...(record?.stepId ? { stepId: record.stepId } : {}),
      activity: type,
      outcome: 'pending',
      attempts: p.attempt ?? 0,
      ...(p.lastWorkerIdentity ? { worker: p.lastWorkerIdentity } : {}),
      ...(p.lastFailure ? { failure: failureChain(p.lastFailure) } : {}),
      ...(tsToIso(p.lastHeartbeatTime) ? { lastHeartbeat: tsToIso(p.lastHeartbeatTime) } : {}),
      ...(tsToIso(p.nextAttemptScheduleTime) ? { nextAttemptAt: tsToIso(p.nextAttemptScheduleTime) } : {}),
    });
  }
  return {
    temporalUi: temporalUiLink(uiUrl, client.options.namespace, jobId),
    execution: job.execution,
    ...(failure.length ? { failure } : {}),
    activities,
  };
}

/** The triage in lines for a terminal. */
export function formatTriage(view: JobView): string {
  const lines: string[] = [];
  if (view.retryOf) lines.push(`retry of ${view.retryOf.jobId} (which ended ${view.retryOf.status})`);
  if (view.retriedBy.length) lines.push(`retried by ${view.retriedBy.join(', ')}`);
  if (view.repair) {
    lines.push(`repair: ${view.repair.status}`);
    for (const s of view.repair.steps)
      lines.push(`  ${s.stepId}: ${s.status}${s.by ? ` by ${s.by}` : ''}${s.note ? ` (${s.note})` : ''}`);
  }
  const t = view.triage;
  if (!t) return lines.join('\n');
  lines.push(`temporal: ${t.execution}  ${t.temporalUi}`);
  if (t.failure) lines.push(`failure: ${t.failure.join('\n  ← ')}`);
  for (const a of t.activities) {
    lines.push(
      `${a.outcome.padEnd(9)} ${a.activity}${a.stepId ? ` (step ${a.stepId})` : ''}: ${a.attempts} attempt(s)` +
        `${a.worker ? ` on ${a.worker}` : ''}${a.lastHeartbeat ? `, last heartbeat ${a.lastHeartbeat}` : ''}`,
    );
    if (a.failure) lines.push(`          ${a.failure.join('\n            ← ')}`);
  }
  return lines.join('\n');
}
