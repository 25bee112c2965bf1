/**
 * Agent sessions from the MCP server's side: starting one (a `sessionWorkflow`, listed with the jobs), sending a
 * tool call as an update (`<session>/<call id>`: a retried call acts once), waiting a while for its result, reading
 * the session's state, and ending it. Everything goes through Temporal: any API process serves any session.
 */
import { randomUUID } from 'node:crypto';
import { WorkflowNotFoundError, WorkflowUpdateRPCTimeoutOrCancelledError, type Client } from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import { COMPENSATION_OPTIONS } from '../../activities/tool';
import type { AttestationKey } from '../core/attestation';
import type { FreezeReader } from '../core/contracts';
import { JobStatus, type JobState, type PlannedStep } from '../core/job';
import { airlockAgentKey, airlockStatusKey } from '../core/search-attributes';
import { SESSION_WORKFLOW, type SessionCallResult, type SessionEnd, type SessionInput } from '../core/session';
import { refuseIfFrozen } from '../jobs/submit';
import type { AgentCredential } from '../people';
import { callToolUpdate, endSessionUpdate, jobStateQuery } from '../../workflows/messages';
import type { sessionWorkflow } from '../../workflows/session';

export interface AgentSessionsOptions {
  client: Client;
  taskQueue: string;
  /** Refuses new sessions for a frozen agent. */
  freeze?: FreezeReader;
  /** The channel keys whose vote attestations sessions trust. */
  attestationKeys?: AttestationKey[];
  /**
   * How long a session seen running is taken as running without asking Temporal again (default 1 s): an agent's
   * calls in a row cost one describe, not one each. Its agent never changes; an ended session's calls still fail
   * (its workflow takes no update), only the 404 that tells the client to start anew may come this much later.
   */
  runningCacheMs?: number;
  /** SessionInput.maxHistoryEvents of the sessions it starts (AIRLOCK_MCP_SESSION_MAX_EVENTS). */
  maxHistoryEvents?: number;
}

/** Runs every `intervalMs` while a call is awaited. */
export interface Tick {
  intervalMs: number;
  run: () => Promise<void>;
}

/** A call's result within the wait, or still pending. */
export type CallOutcome = { done: true; result: SessionCallResult } | { done: false };

export class AgentSessions {
  /** Sessions seen running lately: their agent, and until when that is trusted (performance.now()). */
  private readonly seen = new Map<string, { agent: string; until: number }>();

  constructor(private readonly opts: AgentSessionsOptions) {}

  private handle(sessionId: string) {
    return this.opts.client.workflow.getHandle<typeof sessionWorkflow>(sessionId);
  }

  /**
   * Starts a session for the agent; throws JobFrozenError when a freeze covers it. `sessionId` is for recorders of
   * test histories (whose replay derives ids from it); the MCP server always takes a fresh one.
   */
  async start(agent: AgentCredential, requestId?: string, sessionId = `session-${randomUUID()}`): Promise<string> {
    await refuseIfFrozen(this.opts.freeze, agent.name);
    const { maxActions, maxCost, maxDuration } = agent.budget;
    const input: SessionInput = {
      agent: agent.name,
      title: `MCP session of ${agent.name}`,
      requester: agent.requestedBy ?? agent.name,
      caller: agent.caller,
      context: agent.context,
      budget: {
        ...(maxActions !== undefined ? { maxActions } : {}),
        ...(maxCost !== undefined ? { maxCost } : {}),
        ...(maxDuration !== undefined ? { deadline: new Date(Date.now() + maxDuration).toISOString() } : {}),
      },
      steps: [],
      compensationOptions: { ...COMPENSATION_OPTIONS },
      ...(requestId ? { requestId } : {}),
      ...(this.opts.attestationKeys ? { attestationKeys: this.opts.attestationKeys } : {}),
      idleTimeoutMs: agent.idleTimeout,
      ...(this.opts.maxHistoryEvents !== undefined ? { maxHistoryEvents: this.opts.maxHistoryEvents } : {}),
    };
    await this.opts.client.workflow.start<typeof sessionWorkflow>(SESSION_WORKFLOW, {
      workflowId: sessionId,
      taskQueue: this.opts.taskQueue,
      args: [input],
      typedSearchAttributes: new TypedSearchAttributes([
        { key: airlockStatusKey, value: JobStatus.Running },
        { key: airlockAgentKey, value: agent.name },
      ]),
    });
    return sessionId;
  }

  /** The session's agent while it runs; undefined when there is no such session or it has ended. */
  async runningAgent(sessionId: string): Promise<string | undefined> {
    const now = performance.now();
    const seen = this.seen.get(sessionId);
    if (seen && seen.until > now) return seen.agent;
    this.seen.delete(sessionId);
    let agent: string | undefined;
    try {
      const d = await this.handle(sessionId).describe();
      if (d.type !== SESSION_WORKFLOW || d.status.name !== 'RUNNING') return undefined;
      agent = d.typedSearchAttributes.get(airlockAgentKey);
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return undefined;
      throw err;
    }
    const ttl = this.opts.runningCacheMs ?? 1_000;
    if (agent && ttl > 0) {
      // Bounded: entries live a second; clear the stale ones when many sessions come and go.
      if (this.seen.size >= 10_000) for (const [id, e] of this.seen) if (e.until <= now) this.seen.delete(id);
      this.seen.set(sessionId, { agent, until: now + ttl });
    }
    return agent;
  }

  /**
   * Sends a tool call (once per call id: a retry finds the same update) and waits up to `waitMs` for its result, in
   * one request to Temporal while it answers in time (a separate accept, then a poll for the result, cost a round
   * trip per call). Throws WorkflowUpdateFailedError when it did not act (its cause says why), and
   * WorkflowNotFoundError when the session is gone. `tick` runs every `intervalMs` meanwhile (progress notifications).
   */
  async call(
    sessionId: string,
    callId: string,
    step: Omit<PlannedStep, 'id'>,
    opts: { requestId?: string; waitMs: number; tick?: Tick },
  ): Promise<CallOutcome> {
    const handle = this.handle(sessionId);
    return this.waiting(opts.waitMs, opts.tick, async () => {
      try {
        return await handle.executeUpdate(callToolUpdate, {
          args: [{ callId, step, ...(opts.requestId ? { requestId: opts.requestId } : {}) }],
          updateId: updateId(sessionId, callId),
        });
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) this.seen.delete(sessionId);
        throw err;
      }
    });
  }

  /** Waits up to `waitMs` for the result of a call sent before (`call`); as `call` otherwise. */
  async awaitCall(sessionId: string, callId: string, waitMs: number, tick?: Tick): Promise<CallOutcome> {
    const update = this.handle(sessionId).getUpdateHandle<SessionCallResult>(updateId(sessionId, callId));
    return this.waiting(waitMs, tick, () => update.result());
  }

  /** `result` within `waitMs` (done), or not yet; `tick` runs meanwhile. */
  private async waiting(
    waitMs: number,
    tick: Tick | undefined,
    result: () => Promise<SessionCallResult>,
  ): Promise<CallOutcome> {
    const timer = tick && setInterval(() => void tick.run().catch(() => undefined), tick.intervalMs);
    try {
      return { done: true, result: await this.opts.client.withDeadline(Date.now() + waitMs, result) };
    } catch (err) {
      if (err instanceof WorkflowUpdateRPCTimeoutOrCancelledError) return { done: false };
      throw err;
    } finally {
      if (timer) clearInterval(timer);
    }
  }

  async state(sessionId: string): Promise<JobState> {
    return this.handle(sessionId).query(jobStateQuery);
  }

  /** Ends the session (`rollback` undoes what it did first); answers once it has ended. */
  async end(sessionId: string, reason: 'closed' | 'rollback', by: string): Promise<SessionEnd> {
    this.seen.delete(sessionId);
    try {
      return await this.handle(sessionId).executeUpdate(endSessionUpdate, { args: [{ reason, by }] });
    } finally {
      // A request in the meantime may have seen it still running.
      this.seen.delete(sessionId);
    }
  }
}

/** The update id of a call: a retry of the same MCP request in the same session is the same update. */
export function updateId(sessionId: string, callId: string): string {
  return `${sessionId}/${callId}`;
}
