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

/** Events a session's history may hold before it refuses new calls; well under Temporal's 51,200. */
export const SESSION_MAX_HISTORY_EVENTS = 40_000;
/** Bytes likewise (Temporal's limit is 50 MB). */
export const SESSION_MAX_HISTORY_BYTES = 40 * 1024 * 1024;

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
