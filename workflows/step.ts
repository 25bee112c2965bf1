/**
 * One step, as a planned job and an agent session both run it: the action's activity decides with the policy right
 * before acting and returns the decision with the result (so the decision is in history); the step waits for humans
 * when the policy says so and tries again; its compensation is registered before the action runs. Throws (a
 * non-retryable failure naming why) when the step is denied, rejected, timed out, over budget, abort-frozen, its
 * outcome is unknown, or the tool failed; the caller decides what a failed step means (a job compensates and stops, a
 * session reports it).
 *
 * Moved here from job.ts unchanged, the `faults-v1` branches (JobContext.faults) included: the commands it issues are
 * the job's, for jobs started before and after each patch (test/histories must keep replaying). Sessions always run
 * with `faults` set.
 */
import {
  ActivityFailure,
  CancelledFailure,
  TimeoutFailure,
  condition,
  proxyLocalActivities,
} from '@temporalio/workflow';
import { TimeoutType } from '@temporalio/common';
import { ApprovalStatus } from '../src/core/approval';
import type { FreezeActivities, PolicyActivities } from '../src/core/contracts';
import type { PolicyDecision } from '../src/core/decision';
import type { GateInput } from '../src/core/gate';
import {
  type ActionResult,
  type DecideRequest,
  JobStatus,
  StepStatus,
  type PlannedStep,
  type StepActivityOptions,
  type StepState,
  type ToolCall,
} from '../src/core/job';
import { FailureType } from '../src/core/failures';
import { OUTPUTS_TOTAL_BYTES, OUTPUT_INLINE_BYTES, jsonBytes } from '../src/core/outputs';
import { describe, fail, jobOutcome, now, openTrail, tools, type JobContext } from './context';
import { askHumans } from './approval-round';
import { decideThenAct } from './pre-patch';

/** How often a paused run re-reads the freeze (faults-v1): doubling from the first, up to the last. */
const FREEZE_RECHECK_MS = { first: 5_000, max: 5 * 60_000 };

/** Reading the freeze and the policy's `onUnknownOutcome`: in-process and quick. */
const freezeState = proxyLocalActivities<FreezeActivities>({
  startToCloseTimeout: '10s',
  retry: { initialInterval: '1s', maximumInterval: '30s', maximumAttempts: 3 },
});
const unknownOutcomePolicy = proxyLocalActivities<PolicyActivities>({
  startToCloseTimeout: '10s',
  retry: { initialInterval: '1s', maximumInterval: '30s' },
});

/** What one step runs with: the plan, its state in the query, the call (input resolved), and that input. */
export interface StepRun {
  step: PlannedStep;
  stepState: StepState;
  call: ToolCall;
  resolved: Record<string, unknown>;
}

/** How a run's steps run: the patches it started with, and what its steps have put into history so far. */
export interface StepMode {
  /** False only for jobs started before `decide-in-action` (pre-patch.ts). */
  decideInAction: boolean;
  /** Output bytes the run's steps have put into history (faults-v1 bounds it: OUTPUTS_TOTAL_BYTES); runStep adds. */
  outputBytes: { inline: number };
  /** The job's last step (GENERATION_2): its action, if it succeeds, closes the job's trail with its own end. */
  closes?: boolean;
}

/**
 * The run's `honourFreeze`: waits out a pause-freeze; an abort-freeze stops the run. With `faults` (faults-v1) the run
 * re-reads the freeze now and then (the unfreeze signal may have come before a decision made on a freeze state up to a
 * second old), and its deadline still applies while paused.
 */
export function freezeWaiter(
  ctx: Pick<JobContext, 'input' | 'state' | 'setStatus' | 'remainingMs' | 'checkDeadline'>,
  faults: boolean,
): () => Promise<void> {
  const { input, state, setStatus, remainingMs, checkDeadline } = ctx;
  return async () => {
    let recheckMs = FREEZE_RECHECK_MS.first;
    while (state.frozen) {
      if (state.frozen.mode === 'abort') {
        throw fail(FailureType.JobFrozen, `frozen by ${state.frozen.by}: ${state.frozen.reason}`, state.frozen);
      }
      setStatus(JobStatus.Frozen);
      if (!faults) {
        await condition(() => !state.frozen || state.frozen.mode === 'abort');
        continue;
      }
      checkDeadline('the freeze was lifted');
      const changed = await condition(
        () => !state.frozen || state.frozen.mode === 'abort',
        Math.max(1, Math.min(recheckMs, remainingMs())),
      );
      if (changed) continue;
      checkDeadline('the freeze was lifted');
      // Still frozen as far as the signals tell: ask the freeze store itself.
      const current = await freezeState['freeze.lookup'](input.agent).catch(() => state.frozen);
      state.frozen = current ?? undefined;
      recheckMs = Math.min(recheckMs * 2, FREEZE_RECHECK_MS.max);
    }
    if (state.status === JobStatus.Frozen) setStatus(JobStatus.Running);
  };
}

/**
 * Runs one step to success: decides (and acts), asking humans as often as the policy requires it (again when it
 * changed after an approval). Counts the action and its cost, and hands the compensation the call the action ran with.
 */
export async function runStep(ctx: JobContext, run: StepRun, mode: StepMode): Promise<ActionResult> {
  const { jobId, input, state, undo, remainingMs, checkDeadline, honourFreeze, faults } = ctx;
  const { step, stepState, call, resolved } = run;
  const { decideInAction, outputBytes } = mode;

  /** Runs a step's activity; its compensation is registered first, since an action that timed out may have acted. */
  const runActivity = async (toolCall: ToolCall, options: StepActivityOptions) => {
    const { decide: _, opening: _o, closing: _c, ...plain } = toolCall;
    if (step.compensation && !undo.some((u) => u.step.id === step.id)) undo.push({ step, call: plain });
    stepState.status = StepStatus.Running;
    stepState.input = toolCall.input;
    stepState.startedAt = now();
    try {
      return await tools(options)[step.action](toolCall);
    } catch (err) {
      stepState.status = StepStatus.Failed;
      stepState.error = describe(err);
      // Never scheduled (its scope was cancelled first): generation 2 knows it (older runs compensated it), and keeps
      // the compensation when an earlier attempt may have acted.
      const notActed = (faults && refusedBeforeActing(err)) || (ctx.generation2 && err instanceof CancelledFailure);
      if (notActed && !(ctx.generation2 && mayHaveActed)) {
        // Refused before acting (on every attempt alike), or never started: there is nothing to undo.
        const i = undo.findIndex((u) => u.step.id === step.id);
        if (i >= 0) undo.splice(i, 1);
      }
      if (faults && mayHaveActedUnseen(err)) throw await unknownOutcome(toolCall, err);
      throw err;
    } finally {
      stepState.endedAt = now();
    }
  };

  /**
   * One try at a step: the policy decides and, when it allows (or humans approved this input under this policy), the
   * tool acts. Since `decideInAction` both happen in the action's activity; before, a local activity decided first
   * (pre-patch.ts).
   */
  const tryStep = async (
    decisionNo: number,
    approved: { digest: string; policyHash: string } | undefined,
  ): Promise<ActionResult> => {
    const { maxCost } = input.budget;
    const gateInput: GateInput = {
      ...(approved ? { approved } : {}),
      ...(maxCost !== undefined ? { budget: { spent: state.spent.cost, max: maxCost } } : {}),
    };
    if (decideInAction) {
      const options = {
        ...step.options,
        startToCloseTimeoutMs: Math.min(step.options.startToCloseTimeoutMs, remainingMs()),
      };
      // Decided before acting (faults-v1): how much of the output may enter history (the rest is stored outside it).
      const bounded: ToolCall = faults
        ? {
            ...call,
            outputLimit: Math.max(1024, Math.min(OUTPUT_INLINE_BYTES, OUTPUTS_TOTAL_BYTES - outputBytes.inline)),
          }
        : call;
      const decide: DecideRequest = {
        decisionNo,
        action: step.action,
        agent: input.agent,
        caller: input.caller ?? input.requester,
        context: input.context,
        gate: gateInput,
      };
      // The job's trail opened and closed by its own actions (GENERATION_2): no activity of their own.
      const trail: Pick<ToolCall, 'opening' | 'closing'> = {
        ...(ctx.opening ? { opening: ctx.opening } : {}),
        ...(mode.closes ? { closing: jobOutcome(ctx, JobStatus.Succeeded) } : {}),
      };
      const result = (await runActivity({ ...bounded, decide, ...trail }, options)) as ActionResult;
      // Written by it (a worker from before generation 2 writes no submission: the next one, or the end, will).
      if (result.opened) ctx.opening = undefined;
      if (result.closedAt) ctx.closedAt = result.closedAt;
      return result;
    }
    return decideThenAct(ctx, step, call, decisionNo, gateInput, runActivity);
  };

  /**
   * A step that may have acted without the workflow hearing of it (faults-v1): counted as spent, marked `unknown`,
   * and the policy's `onUnknownOutcome` decides: compensate as if it acted, or ask humans whether it did (a `reject`
   * means it did not: its compensation is dropped). The step fails either way; returns the failure to fail it with.
   */
  const unknownOutcome = async (toolCall: ToolCall, err: unknown) => {
    stepState.status = StepStatus.Unknown;
    state.spent = { ...state.spent, actions: state.spent.actions + 1 };
    const why = `step ${step.id} (${step.action}) may or may not have acted: ${describe(err).message}`;
    // The submission first, if no action wrote it, before the question and what follows enter the trail.
    await openTrail(ctx);
    const rule = await unknownOutcomePolicy['policy.onUnknownOutcome']({
      agent: input.agent,
      action: step.action,
      input: toolCall.input,
    });
    // It may have spent what it costs; counted before another call checks the budget, which it may do from here on:
    // people may take hours to answer.
    state.spent = { ...state.spent, cost: state.spent.cost + (rule.cost ?? 0) };
    releaseLock();
    if (!rule.ask) return fail(FailureType.OutcomeUnknown, `${why}; compensated as if it acted`);
    const question: PolicyDecision = {
      outcome: 'require_approval',
      ruleId: 'onUnknownOutcome',
      policyHash: rule.policyHash,
      reason: `Did ${step.id} act? ${why}. Approve: it acted (undo it). Reject: it did not.`,
      approval: rule.ask,
      inputDigest: rule.inputDigest,
      cost: 0,
    };
    try {
      await askHumans(ctx, step, stepState, toolCall.input, question, `${jobId}:${step.id}.outcome`);
    } catch (answer) {
      if (describe(answer).type !== FailureType.ApprovalRejected) {
        // No answer in time: undo it as if it acted. Cancelled or frozen: stop as asked.
        if (describe(answer).type === FailureType.ApprovalTimedOut) {
          stepState.status = StepStatus.Unknown;
          return fail(
            FailureType.OutcomeUnknown,
            `${why}; nobody said in time whether it did: compensated as if it acted`,
          );
        }
        return answer;
      }
      const i = undo.findIndex((u) => u.step.id === step.id);
      if (i >= 0) undo.splice(i, 1);
      stepState.status = StepStatus.Failed;
      return fail(FailureType.OutcomeUnknown, `${why}; humans said it did not act: not compensated`);
    }
    stepState.status = StepStatus.Unknown;
    return fail(FailureType.OutcomeUnknown, `${why}; humans said it acted: compensated`);
  };

  let result: ActionResult;
  /** An attempt after the first came back without acting: an earlier attempt may have acted before failing. */
  let mayHaveActed = false;
  const lock = ctx.actionLock;
  /** Lets the next call act; only this step's hold (it may have let go already, and another call taken it). */
  function releaseLock() {
    if (lock?.holder === step.id) lock.holder = undefined;
  }
  for (;;) {
    const closing = ctx.closing?.();
    if (closing) throw fail(FailureType.SessionEnded, `step ${step.id} not run: ${closing}`);
    if (state.frozen || state.status === JobStatus.Frozen) await honourFreeze();
    if (lock?.holder !== undefined) {
      // Another step is deciding and acting: its spending counts before this one's budget check.
      await condition(() => lock.holder === undefined || ctx.closing?.() !== undefined);
      continue;
    }
    checkDeadline(`step ${step.id}`);
    if (input.budget.maxActions !== undefined && state.spent.actions + 1 > input.budget.maxActions) {
      throw fail(
        FailureType.BudgetExceeded,
        `step ${step.id} would be action ${state.spent.actions + 1} of at most ${input.budget.maxActions}`,
      );
    }
    const approvedRequest = state.approvals.find((r) => r.stepId === step.id && r.status === ApprovalStatus.Approved);
    if (lock) lock.holder = step.id;
    try {
      result = await tryStep(
        (stepState.decisions?.length ?? 0) + 1,
        approvedRequest && { digest: approvedRequest.inputDigest, policyHash: approvedRequest.policyHash },
      );
      // Counted before the next step may check the budget.
      if (result.acted)
        state.spent = { actions: state.spent.actions + 1, cost: state.spent.cost + result.decision.cost };
    } finally {
      releaseLock();
    }
    const { decision } = result;
    const { outcome, ruleId, policyHash, reason, inputDigest, cost } = decision;
    stepState.decisions = [
      ...(stepState.decisions ?? []),
      { outcome, ruleId, policyHash, reason, inputDigest, cost, at: now() },
    ];
    if (result.acted) break;
    mayHaveActed ||= result.attempt > 1;
    if (!mayHaveActed) {
      const i = undo.findIndex((u) => u.step.id === step.id);
      if (i >= 0) undo.splice(i, 1); // nothing acted: nothing to undo
    }
    stepState.status = StepStatus.Pending;
    if (decision.frozen) {
      state.frozen = decision.frozen;
      continue;
    }
    if (result.overBudget) {
      throw fail(
        FailureType.BudgetExceeded,
        `step ${step.id} costs ${cost}; ${state.spent.cost} of ${input.budget.maxCost} already spent`,
      );
    }
    if (outcome === 'deny') {
      stepState.status = StepStatus.Denied;
      throw fail(
        FailureType.PolicyDenied,
        `step ${step.id} (${step.action}) denied by rule ${ruleId}: ${reason ?? 'no reason given'}`,
        { ruleId, policyHash },
      );
    }
    await askHumans(ctx, step, stepState, resolved, decision);
  }

  const { output, decision } = result;
  const entry = undo.find((u) => u.step.id === step.id);
  // The compensation gets the call the action ran with, and the limits the policy set for it.
  if (entry && decideInAction) entry.call = { ...call, ...(decision.limits ? { limits: decision.limits } : {}) };
  if (entry) entry.output = output;
  stepState.output = output;
  stepState.status = StepStatus.Succeeded;
  if (faults) outputBytes.inline += jsonBytes(output);
  return result;
}

/** Failures the action's activity raises before acting, on every attempt alike. */
function refusedBeforeActing(err: unknown): boolean {
  const type = describe(err).type;
  return (
    type === FailureType.InvalidToolInput ||
    type === FailureType.ApprovalMismatch ||
    type === FailureType.AuditRefusedBeforeActing
  );
}

/** The activity started and then timed out or lost its worker, with no attempt left: it may have acted unseen. */
function mayHaveActedUnseen(err: unknown): boolean {
  if (!(err instanceof ActivityFailure) || !(err.cause instanceof TimeoutFailure)) return false;
  return err.cause.timeoutType === TimeoutType.START_TO_CLOSE || err.cause.timeoutType === TimeoutType.HEARTBEAT;
}
