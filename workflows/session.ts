/**
 * An agent's MCP session as one durable workflow (a job of kind `session`): the agent's tool calls arrive as
 * `callTool` updates, each running one step with the job's machinery (step.ts: the action's activity decides with
 * the policy right before acting, humans are asked when the policy says so, the compensation is registered before
 * the action). Budgets (actions, cost, deadline) and freezes hold for the whole session; the audit trail is the
 * session's, its head signed when the session ends.
 *
 * A session ends when the agent closes it (`endSession` closed: what it did stays), after `idleTimeoutMs` without a
 * call, at its deadline, or by rollback (`endSession` rollback), an abort-freeze or an operator's cancel, which run
 * its compensations in reverse first. Calls still waiting for humans are closed; calls acting finish first.
 *
 * Several calls may run at once (an agent may read while a change waits for approval); each is its own step.
 */
import {
  ApplicationFailure,
  CancellationScope,
  TemporalFailure,
  allHandlersFinished,
  condition,
  isCancellation,
  patched,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import {
  callToolUpdate,
  decideUpdate,
  endSessionUpdate,
  freezeSignal,
  jobStateQuery,
  unfreezeSignal,
} from './messages';
import { ApprovalStatus, type Vote } from '../src/core/approval';
import { airlockAgentKey, airlockStatusKey } from '../src/core/search-attributes';
import { JobStatus, StepStatus, type JobState, type PlannedStep, type StepState, type ToolCall } from '../src/core/job';
import {
  EVENTS_PER_COMPENSATION,
  SESSION_MAX_CALLS_IN_FLIGHT,
  SESSION_MAX_HISTORY_BYTES,
  SESSION_MAX_HISTORY_EVENTS,
  SESSION_MAX_UPDATES,
  type SessionCall,
  type SessionEnd,
  type SessionEndReason,
  type SessionInput,
} from '../src/core/session';
import { FailureType } from '../src/core/failures';
import { GENERATION_2, describe, fail, jobAudit, now, type JobContext, type Undo } from './context';
import { recordVote, validateVote } from './approval-round';
import { compensate, type CompensationFailure } from './compensate';
import { finish } from './finish';
import { freezeWaiter, runStep } from './step';

/**
 * The patch that holds a budgeted session's calls to one deciding and acting at a time (sessions started before it let
 * side-by-side calls each pass the budget check). It first shipped with the turn let go before people are asked about
 * an unknown outcome (step.ts), so no run has its marker without that: a change to either needs a patch of its own.
 * Its old side can go once no session started before it runs.
 */
export const SESSION_BUDGET_LOCK = 'session-budget-lock';

/** Runs one agent session until it ends; answers how it ended and what was undone. */
export async function sessionWorkflow(input: SessionInput): Promise<SessionEnd> {
  const jobId = workflowInfo().workflowId;
  const state: JobState = {
    jobId,
    kind: 'session',
    agent: input.agent,
    title: input.title,
    requester: input.requester,
    ...(input.caller ? { caller: input.caller } : {}),
    status: JobStatus.Running,
    steps: [],
    compensated: [],
    approvals: [],
    spent: { actions: 0, cost: 0 },
    startedAt: now(),
  };
  const deadline = input.budget.deadline ? Date.parse(input.budget.deadline) : undefined;
  const undo: Undo[] = [];
  let ending: { reason: SessionEndReason; by?: string } | undefined;
  let ended: SessionEnd | undefined;
  let inFlight = 0;
  /** Updates accepted (calls, votes, the end): Temporal takes at most SESSION_MAX_UPDATES + headroom per workflow. */
  let updates = 0;
  let lastTouched = Date.now();

  const setStatus = (status: JobStatus) => {
    // Calls run side by side: the session waits for humans as long as any of its requests is open.
    const shown =
      status === JobStatus.Running && state.approvals.some((r) => r.status === ApprovalStatus.Pending)
        ? JobStatus.AwaitingApproval
        : status;
    if (shown === state.status) return;
    state.status = shown;
    upsertSearchAttributes([
      { key: airlockStatusKey, value: shown },
      { key: airlockAgentKey, value: input.agent },
    ]);
  };
  const remainingMs = () => (deadline === undefined ? Infinity : deadline - Date.now());
  const checkDeadline = (what: string) => {
    if (remainingMs() <= 0)
      throw fail(FailureType.DeadlineExceeded, `the session's deadline ${input.budget.deadline} passed before ${what}`);
  };
  // Sessions are new: every faults-v1 behaviour of jobs holds for them unconditionally (JobContext.faults).
  const honourFreeze = freezeWaiter({ input, state, setStatus, remainingMs, checkDeadline }, true);
  const closing = () => (ending ? `the session is ending (${ending.reason})` : undefined);
  // With a budget, calls decide and act one at a time (JobContext.actionLock): side by side, each would check the
  // budget before the others had counted their spending, and together they could exceed it.
  const budgeted = input.budget.maxActions !== undefined || input.budget.maxCost !== undefined;
  // Runs of generation 2 ask no older patch (context.ts).
  const generation2 = patched(GENERATION_2);
  const actionLock = budgeted && (generation2 || patched(SESSION_BUDGET_LOCK)) ? {} : undefined;
  const ctx: JobContext = {
    jobId,
    input,
    state,
    undo,
    setStatus,
    remainingMs,
    checkDeadline,
    honourFreeze,
    closing,
    faults: true,
    generation2,
    ...(actionLock ? { actionLock } : {}),
  };
  /** Output bytes the calls have put into history so far (bounded as a job's: OUTPUTS_TOTAL_BYTES). */
  const outputBytes = { inline: 0 };

  setHandler(jobStateQuery, () => state);
  setHandler(freezeSignal, (entry) => {
    if (!entry.agent || entry.agent === input.agent) state.frozen = entry;
  });
  setHandler(unfreezeSignal, ({ agent }) => {
    if (state.frozen && state.frozen.agent === agent) state.frozen = undefined;
  });
  setHandler(
    decideUpdate,
    (vote) => {
      updates++;
      return recordVote(state, vote);
    },
    { validator: (vote: Vote) => validateVote(state, input, vote) },
  );

  const refuseWhenEnding = () => {
    if (ending || ended)
      throw ApplicationFailure.create({
        type: FailureType.SessionEnded,
        nonRetryable: true,
        message: `session ${jobId} ${ended ? `has ended (${ended.reason})` : `is ending (${ending!.reason})`}`,
      });
  };

  // Temporal's limits on one workflow, checked when a call arrives (validators do not run on replay, so the limits may
  // change between deploys). A new call is refused while there is still room for what must get through: votes on the
  // calls waiting, the end, and a rollback's events.
  const refuseOverLimits = () => {
    const { historyLength, historySize } = workflowInfo();
    const maxEvents = input.maxHistoryEvents ?? SESSION_MAX_HISTORY_EVENTS;
    const full =
      updates >= SESSION_MAX_UPDATES
        ? `${updates} updates (calls and votes; at most ${SESSION_MAX_UPDATES})`
        : historyLength + EVENTS_PER_COMPENSATION * undo.length >= maxEvents
          ? `${historyLength} events of history and ${undo.length} calls to undo (at most ${maxEvents} events)`
          : historySize >= SESSION_MAX_HISTORY_BYTES
            ? `${historySize} bytes of history`
            : undefined;
    if (full)
      throw ApplicationFailure.create({
        type: FailureType.SessionFull,
        nonRetryable: true,
        message: `session ${jobId} is full (${full}): close it (what it did stays, and can still be rolled back until then) and start a new session`,
      });
    if (inFlight >= SESSION_MAX_CALLS_IN_FLIGHT)
      throw ApplicationFailure.create({
        type: FailureType.SessionBusy,
        nonRetryable: true,
        message: `session ${jobId} has ${inFlight} calls in progress (acting or waiting for people), at most ${SESSION_MAX_CALLS_IN_FLIGHT}: wait for one (airlock_wait) before sending another`,
      });
  };

  setHandler(
    callToolUpdate,
    async ({ callId, step: planned, requestId }) => {
      updates++;
      inFlight++;
      lastTouched = Date.now();
      const stepId = `call-${state.steps.length + 1}`;
      const step: PlannedStep = { id: stepId, ...planned };
      const stepState: StepState = {
        id: stepId,
        callId,
        action: step.action,
        risk: step.risk,
        status: StepStatus.Pending,
      };
      state.steps.push(stepState);
      const call: ToolCall = {
        jobId,
        stepId,
        idempotencyKey: `${jobId}/${stepId}`,
        input: step.input,
        ...(requestId ? { requestId } : {}),
      };
      try {
        const { output, decision } = await runStep(
          ctx,
          { step, stepState, call, resolved: step.input },
          { decideInAction: true, outputBytes },
        );
        return {
          callId,
          stepId,
          action: step.action,
          inputDigest: decision.inputDigest,
          outcome: decision.outcome,
          ruleId: decision.ruleId,
          output,
        };
      } catch (err) {
        if (stepState.status === StepStatus.Pending || stepState.status === StepStatus.Running)
          stepState.status = StepStatus.Failed;
        stepState.error ??= describe(err);
        // A failure the agent can read (type and message); anything else would fail the workflow task.
        if (err instanceof ApplicationFailure || isCancellation(err)) throw err;
        const { message, type } = describe(err);
        throw ApplicationFailure.create({
          type,
          message: `${step.action}: ${message}`,
          nonRetryable: true,
          ...(err instanceof TemporalFailure ? { cause: err } : {}),
        });
      } finally {
        inFlight--;
        lastTouched = Date.now();
      }
    },
    {
      validator: (_call: SessionCall) => {
        refuseWhenEnding();
        refuseOverLimits();
      },
    },
  );

  setHandler(
    endSessionUpdate,
    async ({ reason, by }) => {
      updates++;
      ending ??= { reason, by };
      await condition(() => ended !== undefined);
      return ended!;
    },
    { validator: (_end: { reason: string }) => (ended ? refuseWhenEnding() : undefined) },
  );

  const { compensationOptions: _, ...auditedSession } = input;
  try {
    await jobAudit['job.started'](jobId, auditedSession);
  } catch (err) {
    // Only a non-retryable failure gets here (activities/audit-sink.ts): the session fails, and its status says so.
    state.error = describe(err);
    state.endedAt = now();
    setStatus(JobStatus.Failed);
    throw err;
  }

  let cancelled: unknown;
  try {
    for (;;) {
      if (ending) break;
      if (state.frozen?.mode === 'abort') {
        ending = { reason: 'frozen', by: state.frozen.by };
        break;
      }
      const left = remainingMs();
      if (left <= 0) {
        ending = { reason: 'deadline' };
        break;
      }
      const idleLeft = inFlight > 0 ? Infinity : lastTouched + input.idleTimeoutMs - Date.now();
      if (idleLeft <= 0) {
        ending = { reason: 'idle' };
        break;
      }
      // Generation 2: a call does not restart the idle timer (two timer commands on each of its workflow tasks); the
      // timer fires when the idle time from the last call seen at the start would be over, and the loop looks again.
      // Before: a call woke the loop, which restarted it.
      const touched = lastTouched;
      const busy = inFlight > 0;
      const wake = generation2
        ? () => !!ending || state.frozen?.mode === 'abort' || (busy && inFlight === 0)
        : () => !!ending || state.frozen?.mode === 'abort' || lastTouched !== touched;
      const wait = Math.min(left, idleLeft);
      if (wait === Infinity) await condition(wake);
      else await condition(wake, Math.max(wait, 1));
    }
  } catch (err) {
    if (!isCancellation(err)) throw err;
    cancelled = err;
    ending ??= { reason: 'cancelled' };
  }

  const { reason, by } = ending;
  return CancellationScope.nonCancellable(async () => {
    // Requests still open close (closing()); actions under way finish first: nothing is undone while it may act.
    await condition(() => inFlight === 0);
    let failures: CompensationFailure[] = [];
    const undoing = reason === 'rollback' || reason === 'frozen' || reason === 'cancelled';
    if (undoing) {
      state.error = {
        message:
          reason === 'rollback'
            ? `rolled back by ${by ?? 'the agent'}`
            : reason === 'frozen'
              ? `frozen by ${by}: ${state.frozen?.reason ?? ''}`
              : 'cancelled',
        type: reason === 'frozen' ? FailureType.JobFrozen : FailureType.SessionEnded,
      };
      failures = await compensate(undo, input.compensationOptions, state, true);
    }
    const status = failures.length
      ? JobStatus.CompensationFailed
      : undoing
        ? JobStatus.Cancelled
        : reason === 'deadline'
          ? JobStatus.TimedOut
          : JobStatus.Succeeded;
    await finish(ctx, status);
    ended = { reason, status, compensated: state.compensated, failedCompensations: failures.map((f) => f.stepId) };
    await condition(allHandlersFinished);
    if (cancelled) throw cancelled;
    return ended;
  });
}
