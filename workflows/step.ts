/**
 * One step, as a planned job and an agent session both run it: the action's activity decides with the policy right
 * before acting and returns the decision with the result (so the decision is in history); the step waits for humans
 * when the policy says so and tries again; its compensation is registered before the action runs. Throws (a
 * non-retryable failure naming why) when the step is denied, rejected, timed out, over budget, abort-frozen, or the
 * tool failed; the caller decides what a failed step means (a job compensates and stops, a session reports it).
 *
 * Moved here from job.ts unchanged: the commands it issues are the job's (test/histories must keep replaying).
 */
import { ApprovalStatus } from '../src/core/approval';
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
import { describe, fail, now, tools, type JobContext } from './context';
import { askHumans } from './approval-round';
import { decideThenAct } from './pre-patch';

/** What one step runs with: the plan, its state in the query, the call (input resolved), and that input. */
export interface StepRun {
  step: PlannedStep;
  stepState: StepState;
  call: ToolCall;
  resolved: Record<string, unknown>;
}

/**
 * Runs one step to success: decides (and acts), asking humans as often as the policy requires it (again when it
 * changed after an approval). `decideInAction` is false only for jobs started before that patch (pre-patch.ts).
 * Counts the action and its cost, and hands the compensation the call the action ran with.
 */
export async function runStep(ctx: JobContext, run: StepRun, decideInAction: boolean): Promise<ActionResult> {
  const { input, state, undo, remainingMs, checkDeadline, honourFreeze } = ctx;
  const { step, stepState, call, resolved } = run;

  /** Runs a step's activity; its compensation is registered first, since an action that timed out may have acted. */
  const runActivity = async (toolCall: ToolCall, options: StepActivityOptions) => {
    const { decide: _, ...plain } = toolCall;
    if (step.compensation && !undo.some((u) => u.step.id === step.id)) undo.push({ step, call: plain });
    stepState.status = StepStatus.Running;
    stepState.input = toolCall.input;
    stepState.startedAt = now();
    try {
      return await tools(options)[step.action](toolCall);
    } catch (err) {
      stepState.status = StepStatus.Failed;
      stepState.error = describe(err);
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
      const decide: DecideRequest = {
        decisionNo,
        action: step.action,
        agent: input.agent,
        caller: input.caller ?? input.requester,
        context: input.context,
        gate: gateInput,
      };
      return (await runActivity({ ...call, decide }, options)) as ActionResult;
    }
    return decideThenAct(ctx, step, call, decisionNo, gateInput, runActivity);
  };

  let result: ActionResult;
  /** An attempt after the first came back without acting: an earlier attempt may have acted before failing. */
  let mayHaveActed = false;
  for (;;) {
    const closing = ctx.closing?.();
    if (closing) throw fail(FailureType.SessionEnded, `step ${step.id} not run: ${closing}`);
    if (state.frozen || state.status === JobStatus.Frozen) await honourFreeze();
    checkDeadline(`step ${step.id}`);
    if (input.budget.maxActions !== undefined && state.spent.actions + 1 > input.budget.maxActions) {
      throw fail(
        FailureType.BudgetExceeded,
        `step ${step.id} would be action ${state.spent.actions + 1} of at most ${input.budget.maxActions}`,
      );
    }
    const approvedRequest = state.approvals.find((r) => r.stepId === step.id && r.status === ApprovalStatus.Approved);
    result = await tryStep(
      (stepState.decisions?.length ?? 0) + 1,
      approvedRequest && { digest: approvedRequest.inputDigest, policyHash: approvedRequest.policyHash },
    );
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
  state.spent = { actions: state.spent.actions + 1, cost: state.spent.cost + decision.cost };
  const entry = undo.find((u) => u.step.id === step.id);
  // The compensation gets the call the action ran with, and the limits the policy set for it.
  if (entry && decideInAction) entry.call = { ...call, ...(decision.limits ? { limits: decision.limits } : {}) };
  if (entry) entry.output = output;
  stepState.output = output;
  stepState.status = StepStatus.Succeeded;
  return result;
}
