/**
 * `airlock replay`: the histories of real jobs replayed against the workflow code of this checkout, before it is
 * deployed. A history the code would take another way fails here (as it would fail the running job after the
 * deploy); the report names the workflow task where it diverged, the step it belongs to, what history says and what
 * the code does now.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { bundleWorkflowCode, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { workflowsPath as defaultWorkflowsPath } from '../worker';
import {
  activitiesOf,
  decodePayload,
  fetchHistoryJson,
  localActivityOf,
  type HistoryEvent,
  type HistoryJson,
} from './history';

/** A history to replay: the workflow id matters (ids derived from it, e.g. child workflows, must match). */
export interface HistoryToReplay {
  workflowId: string;
  history: HistoryJson;
}

/** Where a replay first went another way than history. */
export interface Divergence {
  /** The workflow task whose commands differ: the id of its WorkflowTaskCompleted event. */
  workflowTaskCompletedEventId?: number;
  /** The first command event of that task in history (what the code should have issued). */
  eventId?: number;
  /** The step the divergence is at (or just before). */
  stepId?: string;
  /** What history recorded there, in words. */
  history: string;
  /** What the code does now, in words. */
  code: string;
  /** The SDK's own message. */
  detail: string;
}

export interface ReplayOutcome {
  jobId: string;
  ok: boolean;
  divergence?: Divergence;
  /** A replay that failed for another reason than non-determinism (e.g. a history that is not a job's). */
  error?: string;
}

const noop = () => undefined;
const quietLogger = { trace: noop, debug: noop, info: noop, warn: noop, error: noop, log: noop } as never;

/** Bundles the workflow code at `workflowsPath` (default: this checkout's workflows/, as the worker runs it). */
export function bundleWorkflows(workflowsPath = defaultWorkflowsPath): Promise<WorkflowBundleWithSourceMap> {
  return bundleWorkflowCode({ workflowsPath, logger: quietLogger });
}

/** Histories of jobs by id, fetched one after the other. */
export async function* historiesById(client: Client, jobIds: string[]): AsyncGenerator<HistoryToReplay> {
  for (const workflowId of jobIds) yield { workflowId, history: await fetchHistoryJson(client, workflowId) };
}

/** Histories of the workflows a visibility query lists (`AirlockStatus="failed" AND StartTime > "…"`). */
export async function* historiesByQuery(client: Client, query: string): AsyncGenerator<HistoryToReplay> {
  for await (const wf of client.workflow.list({ query })) {
    yield { workflowId: wf.workflowId, history: await fetchHistoryJson(client, wf.workflowId, wf.runId) };
  }
}

/**
 * Replays each history against `bundle`, yielding one outcome per history in order. A divergence is located by
 * replaying growing prefixes of the history (one more workflow task each) until one fails.
 */
export async function* replayJobs(
  histories: AsyncIterable<HistoryToReplay> | Iterable<HistoryToReplay>,
  bundle: WorkflowBundleWithSourceMap,
): AsyncGenerator<ReplayOutcome> {
  for await (const { workflowId, history } of histories) {
    const [result] = await collect(Worker.runReplayHistories({ workflowBundle: bundle }, [{ workflowId, history }]));
    const error = result?.error;
    if (!error) {
      yield { jobId: workflowId, ok: true };
      continue;
    }
    if (error.name !== 'DeterminismViolationError') {
      yield { jobId: workflowId, ok: false, error: error.message };
      continue;
    }
    yield { jobId: workflowId, ok: false, divergence: await locate(workflowId, history, bundle, error.message) };
  }
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

/** The SDK's non-determinism message inside the replay error's text. */
export function coreMessage(message: string): string {
  return /message: "(\[TMPRL1100\][^"]*)"/.exec(message)?.[1] ?? message.split('\n')[0];
}

async function locate(
  workflowId: string,
  history: HistoryJson,
  bundle: WorkflowBundleWithSourceMap,
  message: string,
): Promise<Divergence> {
  const detail = coreMessage(message);
  const { events } = history;
  const startedAt = events.flatMap((e, i) => (e.eventType === 'EVENT_TYPE_WORKFLOW_TASK_STARTED' ? [i] : []));
  // Prefix k ends at the (k+1)-th task's start: replaying it checks the commands of the tasks before.
  let failedAt: number | undefined;
  for (const [k, end] of startedAt.slice(1).entries()) {
    const prefix = { events: events.slice(0, end + 1) };
    const [r] = await collect(Worker.runReplayHistories({ workflowBundle: bundle }, [{ workflowId, history: prefix }]));
    if (r?.error?.name === 'DeterminismViolationError') {
      failedAt = k;
      break;
    }
  }
  // The task whose commands differ: the one started at startedAt[failedAt] (the last task when no prefix failed).
  const taskStart = startedAt[failedAt ?? startedAt.length - 1];
  const completed = events.slice(taskStart).find((e) => e.eventType === 'EVENT_TYPE_WORKFLOW_TASK_COMPLETED');
  const completedId = completed ? Number(completed.eventId) : undefined;
  const commands = events.filter(
    (e) => completedId !== undefined && Number(e.eventId) > completedId && commandOf(e) === completedId,
  );
  const activities = activitiesOf(history);
  const atStep =
    activities.find((a) => a.stepId && completedId !== undefined && a.scheduledEventId > completedId) ??
    activities.find((a) => a.stepId);
  const words = commands.map(describeCommand).filter(Boolean);
  const recorded = words.length ? words.join(', then ') : 'no command (the task only waited)';
  return {
    ...(completedId !== undefined ? { workflowTaskCompletedEventId: completedId } : {}),
    ...(commands[0] ? { eventId: Number(commands[0].eventId) } : {}),
    ...(atStep?.stepId ? { stepId: atStep.stepId } : {}),
    history: recorded,
    code: whatTheCodeDoes(detail, commands),
    detail,
  };
}

/** The WorkflowTaskCompleted event a command event came from. */
function commandOf(e: HistoryEvent): number | undefined {
  for (const [key, value] of Object.entries(e)) {
    if (!key.endsWith('EventAttributes') || !value || typeof value !== 'object') continue;
    const id = (value as { workflowTaskCompletedEventId?: string }).workflowTaskCompletedEventId;
    if (id !== undefined) return Number(id);
  }
  return undefined;
}

/** One command event of history, in words. */
export function describeCommand(e: HistoryEvent): string {
  const s = e.activityTaskScheduledEventAttributes;
  if (s) {
    const call = decodePayload(s.input?.payloads?.[0]) as { stepId?: string } | undefined;
    return `activity ${s.activityType.name}${call?.stepId ? ` for step ${call.stepId}` : ''} (event ${e.eventId})`;
  }
  const local = localActivityOf(e);
  if (local) return `local activity ${local} (event ${e.eventId})`;
  const marker = e.markerRecordedEventAttributes;
  if (marker?.markerName === 'core_patch') {
    const patch = decodePayload(marker.details?.['patch-data']?.payloads?.[0]) as { id?: string } | undefined;
    return `patch marker ${patch?.id ?? '?'} (event ${e.eventId})`;
  }
  const kind = e.eventType
    .replace(/^EVENT_TYPE_/, '')
    .toLowerCase()
    .replace(/_/g, ' ');
  if (kind === 'upsert workflow search attributes') return '';
  return `${kind} (event ${e.eventId})`;
}

/** What the code issues instead, from the SDK's message. */
function whatTheCodeDoes(detail: string, commands: HistoryEvent[]): string {
  const type =
    /Activity type of scheduled event '([^']+)' does not match activity type of activity command '([^']+)'/.exec(
      detail,
    );
  if (type) return `schedules activity ${type[2]} where history has ${type[1]}`;
  const local = /Missing associated machine for LocalActivity\((\d+)\)/.exec(detail);
  if (local) {
    const recorded = commands.find((e) => localActivityOf(e));
    return `issues another command where history has local activity ${recorded ? localActivityOf(recorded) : `#${local[1]}`}`;
  }
  const none = /No command scheduled for event HistoryEvent\(id: (\d+), (\w+)\)/.exec(detail);
  if (none) return `does not issue what history has at event ${none[1]} (${none[2]})`;
  const child =
    /Child workflow id of scheduled event '([^']+)' does not match child workflow id of command '([^']+)'/.exec(detail);
  if (child)
    return `starts child workflow ${child[2]} where history has ${child[1]} (replayed under another workflow id?)`;
  return detail.replace(/^\[TMPRL1100\] Nondeterminism error: /, '');
}

/** One line per outcome: `ok` or the divergence in plain words. */
export function formatOutcome(o: ReplayOutcome): string {
  if (o.ok) return `${o.jobId}: ok`;
  if (!o.divergence) return `${o.jobId}: replay failed: ${o.error}`;
  const d = o.divergence;
  const where = d.stepId ? `at step ${d.stepId}` : 'before any step';
  const task = d.workflowTaskCompletedEventId
    ? ` (workflow task completed at event ${d.workflowTaskCompletedEventId})`
    : '';
  return `${o.jobId}: DIVERGES ${where}${task}: history has ${d.history}; the code now ${d.code}`;
}

/** The file name a saved history gets: the replay test (test/workflows/replay.test.ts) replays it under `jobId`. */
export const savedHistoryFile = (jobId: string) => `${SAVED_PREFIX}${jobId}.json`;
/** Saved histories' names start with this; what follows, up to `.json`, is the job id. */
export const SAVED_PREFIX = 'saved--';

/** Writes a history as a fixture (the format of test/histories); returns the file written. */
export function saveHistory(dir: string, h: HistoryToReplay): string {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, savedHistoryFile(h.workflowId));
  writeFileSync(file, `${JSON.stringify(h.history, null, 1)}\n`);
  return file;
}
