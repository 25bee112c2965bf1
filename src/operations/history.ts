/**
 * A job's workflow history in its JSON form (the form `temporal workflow show --output json`, the Temporal UI's
 * download and test/histories use), and what operators need from it: the job's input, which step each activity was
 * for, and how its attempts went.
 */
import type { Client } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import type { JobInput, ToolCall } from '../core/job';

export interface JsonPayload {
  metadata?: Record<string, string>;
  data?: string;
}
interface Payloads {
  payloads?: JsonPayload[];
}
export interface JsonFailure {
  message?: string;
  source?: string;
  stackTrace?: string;
  cause?: JsonFailure;
  applicationFailureInfo?: { type?: string; nonRetryable?: boolean };
  activityFailureInfo?: { activityType?: { name?: string }; identity?: string; retryState?: string };
  timeoutFailureInfo?: { timeoutType?: string; lastHeartbeatDetails?: Payloads };
  canceledFailureInfo?: object;
  serverFailureInfo?: object;
}

/** One event of a history as JSON: the attributes this module reads, the rest passed through. */
export interface HistoryEvent {
  eventId: string;
  eventTime?: string;
  eventType: string;
  workflowExecutionStartedEventAttributes?: { input?: Payloads; workflowType?: { name?: string } };
  workflowTaskCompletedEventAttributes?: { identity?: string };
  activityTaskScheduledEventAttributes?: {
    activityId?: string;
    activityType: { name: string };
    input?: Payloads;
    workflowTaskCompletedEventId?: string;
  };
  activityTaskStartedEventAttributes?: { scheduledEventId: string; identity?: string; attempt?: number };
  activityTaskCompletedEventAttributes?: { scheduledEventId: string; identity?: string };
  activityTaskFailedEventAttributes?: { scheduledEventId: string; failure?: JsonFailure; identity?: string };
  activityTaskTimedOutEventAttributes?: { scheduledEventId: string; failure?: JsonFailure };
  activityTaskCanceledEventAttributes?: { scheduledEventId: string };
  markerRecordedEventAttributes?: { markerName?: string; details?: Record<string, Payloads> };
  workflowExecutionFailedEventAttributes?: { failure?: JsonFailure };
  workflowExecutionUpdateAcceptedEventAttributes?: { acceptedRequest?: { input?: { name?: string } } };
  [attributes: string]: unknown;
}
export interface HistoryJson {
  events: HistoryEvent[];
}

/** A workflow's history as JSON (the proto's canonical JSON mapping: enums by name, bytes in base64). */
export async function fetchHistoryJson(client: Client, workflowId: string, runId?: string): Promise<HistoryJson> {
  const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
  return JSON.parse(historyToJSON(history)) as HistoryJson;
}

/** A JSON payload's value (Airlock uses the default converter: `json/plain`, or nothing for undefined). */
export function decodePayload(p: JsonPayload | undefined): unknown {
  if (!p?.data) return undefined;
  return JSON.parse(Buffer.from(p.data, 'base64').toString('utf8'));
}

/** The job's input, as it was started with (the first event's input). */
export function jobInputOf(history: HistoryJson): JobInput {
  const started = history.events[0]?.workflowExecutionStartedEventAttributes;
  const input = decodePayload(started?.input?.payloads?.[0]) as JobInput | undefined;
  if (!input || !Array.isArray(input.steps)) throw new Error('the history does not start with a job input');
  return input;
}

/** One activity the workflow scheduled, and what became of it. */
export interface ActivityRecord {
  scheduledEventId: number;
  /** The workflow task that scheduled it (a reset to it re-runs the decision that scheduled it). */
  workflowTaskCompletedEventId?: number;
  type: string;
  /** The step it acted for or compensated (ToolCall.stepId), when it is a tool's activity. */
  stepId?: string;
  /** `<tool>.compensate`. */
  compensation: boolean;
  /** The call as scheduled (ToolCall, or CompensationCall for a compensation). */
  call?: ToolCall & { output?: unknown };
  attempts: number;
  /** Who ran its last attempt (the worker identity of ActivityTaskStarted). */
  lastIdentity?: string;
  outcome: 'pending' | 'completed' | 'failed' | 'timed_out' | 'cancelled';
  closedEventId?: number;
  failure?: JsonFailure;
}

const num = (id: string | undefined) => (id === undefined ? undefined : Number(id));

/** Every activity of the history in the order scheduled, with its step, attempts, identity and outcome. */
export function activitiesOf(history: HistoryJson): ActivityRecord[] {
  const byScheduled = new Map<number, ActivityRecord>();
  for (const e of history.events) {
    const s = e.activityTaskScheduledEventAttributes;
    if (s) {
      const call = decodePayload(s.input?.payloads?.[0]) as ActivityRecord['call'] | undefined;
      const stepId = call && typeof call === 'object' && typeof call.stepId === 'string' ? call.stepId : undefined;
      byScheduled.set(Number(e.eventId), {
        scheduledEventId: Number(e.eventId),
        workflowTaskCompletedEventId: num(s.workflowTaskCompletedEventId),
        type: s.activityType.name,
        ...(stepId ? { stepId, call } : {}),
        compensation: s.activityType.name.endsWith('.compensate'),
        attempts: 0,
        outcome: 'pending',
      });
      continue;
    }
    const started = e.activityTaskStartedEventAttributes;
    if (started) {
      const a = byScheduled.get(Number(started.scheduledEventId));
      if (a) {
        a.attempts = started.attempt ?? a.attempts + 1;
        a.lastIdentity = started.identity;
      }
      continue;
    }
    const closed: [ActivityRecord['outcome'], { scheduledEventId: string; failure?: JsonFailure } | undefined][] = [
      ['completed', e.activityTaskCompletedEventAttributes],
      ['failed', e.activityTaskFailedEventAttributes],
      ['timed_out', e.activityTaskTimedOutEventAttributes],
      ['cancelled', e.activityTaskCanceledEventAttributes],
    ];
    for (const [outcome, attrs] of closed) {
      if (!attrs) continue;
      const a = byScheduled.get(Number(attrs.scheduledEventId));
      if (!a) continue;
      a.outcome = outcome;
      a.closedEventId = Number(e.eventId);
      if (attrs.failure) a.failure = attrs.failure;
    }
  }
  return [...byScheduled.values()];
}

/** The activity type of a local activity's marker (audit writes, the freeze lookup, pre-patch decisions). */
export function localActivityOf(e: HistoryEvent): string | undefined {
  const m = e.markerRecordedEventAttributes;
  if (m?.markerName !== 'core_local_activity') return undefined;
  const data = decodePayload(m.details?.data?.payloads?.[0]) as { activity_type?: string } | undefined;
  return data?.activity_type;
}

/** A failure and its causes, outermost first, in one line each: `activity git.commit failed: … ← GitError: …`. */
export function failureChain(failure: JsonFailure | undefined): string[] {
  const out: string[] = [];
  for (let f = failure; f; f = f.cause) {
    const type = f.applicationFailureInfo?.type
      ? `${f.applicationFailureInfo.type}: `
      : f.timeoutFailureInfo
        ? `timeout (${f.timeoutFailureInfo.timeoutType?.replace('TIMEOUT_TYPE_', '').toLowerCase()}): `
        : f.canceledFailureInfo
          ? 'cancelled: '
          : '';
    out.push(`${type}${f.message ?? ''}`.trim());
  }
  return out;
}
