/**
 * The decision path of jobs started before the `decide-in-action` patch (DECIDE_IN_ACTION in job.ts): the workflow
 * asks the policy in a local activity of its own, applies the gate, then runs the action with the limits the policy
 * set. Jobs started since decide inside the action's activity (one activation less per action). Nothing else uses it.
 *
 * When it can be deleted: once no job started before that patch is running or needs replay, i.e. `airlock jobs list`
 * shows none started before it, and their histories (test/histories/*.json without `.decide-in-action`) are retired.
 * Then, in two deploys:
 *   1. replace `patched(DECIDE_IN_ACTION)` in job.ts with `deprecatePatch(DECIDE_IN_ACTION)`, keep only the
 *      `decideInAction` side of each place job.ts tests it (the search attributes set again at the start, this path in
 *      tryStep, the compensation's call after the action), and delete this module;
 *   2. one deploy later, when no job that ran with `patched()` is open, delete the `deprecatePatch` call.
 */
import { proxyLocalActivities } from '@temporalio/workflow';
import type { PolicyActivities } from '../src/core/contracts';
import { gate, type GateInput } from '../src/core/gate';
import type { ActionResult, PlannedStep, StepActivityOptions, ToolCall } from '../src/core/job';
import type { JobContext } from './context';

/** Policy evaluation is in-process and cheap: a local activity, retried briefly. */
const POLICY_OPTIONS = { startToCloseTimeout: '10s', retry: { maximumAttempts: 3, initialInterval: '200ms' } } as const;

const policy = proxyLocalActivities<PolicyActivities>(POLICY_OPTIONS);

/**
 * One try at a step, the pre-patch way: the policy decides in a local activity, the gate applies the decision here,
 * and `act` runs the tool (with the policy's limits on its timeout and attempts) only when the gate lets it.
 */
export async function decideThenAct(
  ctx: JobContext,
  step: PlannedStep,
  call: ToolCall,
  decisionNo: number,
  gateInput: GateInput,
  act: (call: ToolCall, options: StepActivityOptions) => Promise<unknown>,
): Promise<ActionResult> {
  const { jobId, input } = ctx;
  const decision = await policy['policy.evaluate']({
    jobId,
    stepId: step.id,
    decisionNo,
    requestId: input.requestId,
    action: step.action,
    agent: input.agent,
    caller: input.caller ?? input.requester,
    context: input.context,
    input: call.input,
  });
  const verdict = gate(decision, gateInput);
  if (!verdict.act) return { decision, acted: false, attempt: 1, ...(verdict.overBudget ? { overBudget: true } : {}) };
  const limits = decision.limits ?? {};
  const options: StepActivityOptions = {
    ...step.options,
    startToCloseTimeoutMs: Math.min(
      step.options.startToCloseTimeoutMs,
      limits.maxRuntimeMs ?? Infinity,
      ctx.remainingMs(),
    ),
    maximumAttempts:
      limits.retries !== undefined
        ? Math.min(step.options.maximumAttempts, limits.retries + 1)
        : step.options.maximumAttempts,
  };
  const legacyCall: ToolCall = {
    ...call,
    ...(verdict.viaApproval ? { approvedDigest: decision.inputDigest } : {}),
    ...(decision.limits ? { limits: decision.limits } : {}),
  };
  return { decision, acted: true, attempt: 1, output: await act(legacyCall, options) };
}
