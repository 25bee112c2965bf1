/**
 * Agent sessions: an agent connected over MCP, one durable workflow per session, each tool call one step of it.
 * Pure types: bundled into workflow code.
 */
import type { JobInput, PlannedStep } from './job';
import type { Outcome } from './decision';

/** The session workflow's input: a job without steps (they arrive as tool calls), plus how the session ends. */
export interface SessionInput extends JobInput {
  /** The session ends (as succeeded, keeping what it did) after this long without a tool call. */
  idleTimeoutMs: number;
  /**
   * A session takes no more tool calls once its history holds this many events (default
   * SESSION_MAX_HISTORY_EVENTS): Temporal fails a run whose history outgrows its limit (51,200 events by default).
   */
  maxHistoryEvents?: number;
}

// A session refuses new calls before it reaches Temporal's limits on one workflow (server defaults; the server refuses
// any update past them, a vote or the session's end as well as a call).
/** Events a session's history may hold, rollback included; Temporal fails a run at 51,200. */
export const SESSION_MAX_HISTORY_EVENTS = 40_000;
/** Events a rollback writes per call it undoes (its activity, the tasks around it, the audit), counted ahead. */
export const EVENTS_PER_COMPENSATION = 8;
/** Bytes of history likewise (Temporal's limit is 50 MB). */
export const SESSION_MAX_HISTORY_BYTES = 40 * 1024 * 1024;
/** Updates accepted (calls, votes, the end): Temporal takes 2,000 per workflow; the rest is kept for votes and the end. */
export const SESSION_MAX_UPDATES = 1_800;
/**
 * Calls in progress at once (acting, or waiting for people after answering `awaiting_approval`): Temporal holds at
 * most 10 updates in flight per workflow, and a vote on a waiting call is one too.
 */
export const SESSION_MAX_CALLS_IN_FLIGHT = 6;

/** One tool call, planned by the MCP server: the step without its id (the session numbers its steps). */
export interface SessionCall {
  /** The MCP request that made the call (`<session>/<request id>` is the update id: a retried call acts once). */
  callId: string;
  step: Omit<PlannedStep, 'id'>;
  /** The HTTP request that carried the call, for the audit trail (as in the logs). */
  requestId?: string;
}

/** What a tool call that acted returns. A call that did not act fails the update with the reason. */
export interface SessionCallResult {
  callId: string;
  stepId: string;
  action: string;
  inputDigest: string;
  outcome: Outcome;
  ruleId: string;
  output: unknown;
}

/** Why a session ends: the agent closed it, rolled it back, it was idle, or an operator cancelled it. */
export type SessionEndReason = 'closed' | 'rollback' | 'idle' | 'deadline' | 'cancelled' | 'frozen';

/** Answer of the `endSession` update: how it ended and what was undone, in the order undone. */
export interface SessionEnd {
  reason: SessionEndReason;
  status: string;
  compensated: string[];
  failedCompensations: string[];
}

/** The workflow type of agent sessions (listed with jobs: kind `session`). */
export const SESSION_WORKFLOW = 'sessionWorkflow';
/** The workflow type of planned jobs. */
export const JOB_WORKFLOW = 'jobWorkflow';
