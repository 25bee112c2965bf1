/**
 * The job saga: for each step, in order, run the tool's activity, which asks the policy right before acting and
 * returns the decision with the result (so the decision is in history); wait for humans when the policy says so and
 * try again; undo what was done when a step fails, is denied, rejected, times out, breaks the budget, is frozen with
 * `abort`, or the job is cancelled.
 *
 * Deterministic orchestration only (see eslint.config.mjs): tools are reached through proxyActivities by name, and
 * everything decided at submission (timeouts, retries, which steps have a compensation) arrives in the input.
 *
 * ARCHITECTURE: the parts of one job run, each handed the run's JobContext (no per-job state in module variables):
 *   job.ts            this entry: the job's state, its query/signal/update handlers, the step loop and the saga
 *   approval-round.ts asking humans, waiting for their votes, escalating; the `decide` update's handler and validator
 *   compensate.ts     running the compensations in reverse when the job stops
 *   finish.ts         the end status, closing the audit trail, the callback; after the steps or after compensating
 *   pre-patch.ts      the decision path of jobs started before `decide-in-action`, and when it can be deleted
 *   context.ts        what they share: JobContext, the undo list's entries, the tools' and audit's proxies, helpers
 * Every history in test/histories must replay: moving code between these modules is free, changing the commands a
 * run issues (activities, their options, timers, upserts, markers, their order) needs `patched()`.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  TimeoutFailure,
  condition,
  isCancellation,
  patched,
  proxyLocalActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { decideUpdate, freezeSignal, jobStateQuery, unfreezeSignal } from './messages';
import { ApprovalStatus, type Vote } from '../src/core/approval';
import type { GateInput } from '../src/core/gate';
import { RefResolutionError, resolveRefs } from '../src/core/refs';
import { airlockAgentKey, airlockStatusKey } from '../src/core/search-attributes';
import {
  type ActionResult,
  type DecideRequest,
  JobStatus,
  StepStatus,
  type JobInput,
  type JobResult,
  type JobState,
  type PlannedStep,
  type StepActivityOptions,
  type StepState,
  type ToolCall,
} from '../src/core/job';
import { FailureType } from '../src/core/failures';
import type { PolicyDecision } from '../src/core/decision';
import { TimeoutType } from '@temporalio/common';
import type { FreezeActivities, PolicyActivities } from '../src/core/contracts';
import { OUTPUTS_TOTAL_BYTES, OUTPUT_INLINE_BYTES, jsonBytes } from '../src/core/outputs';
import { describe, fail, jobAudit, now, tools, type JobContext, type Undo } from './context';
import { askHumans, recordVote, validateVote } from './approval-round';
import { compensate } from './compensate';
import { endStatus, finish } from './finish';
import { decideThenAct } from './pre-patch';

/** The patch that moved the policy decision into the action's activity (see tryStep and pre-patch.ts). */
export const DECIDE_IN_ACTION = 'decide-in-action';
/** A job whose `job.started` the audit database refuses for good ends `failed` instead of staying `running`. */
export const AUDIT_REFUSED_FAILS = 'audit-refused-fails';

/**
 * The patch that makes jobs correct under faults (`faults` in the code; JobContext.faults in the other modules):
 *   - the end state is final: the callback is delivered by a workflow of its own after the job ends (finish.ts);
 *   - channels are told in the background; the audit part is written on the decision path (approval-round.ts,
 *     notifier.ts); the approval timeout runs from the request; a cancelled job closes its request everywhere;
 *   - a paused job re-checks the freeze and its deadline still applies (honourFreeze);
 *   - outputs enter history bounded (ToolCall.outputLimit, src/core/outputs.ts);
 *   - compensations retry until they succeed or fail permanently; a step refused for its input is not undone;
 *   - a started action that timed out without retries is `unknown`, counted, and the policy's `onUnknownOutcome`
 *     decides (unknownOutcome below).
 * When the old branches can go: once no job started before this patch is running (`airlock jobs list --status
 * running` etc. shows none started before the deploy that brought it) and test/histories without `.faults-v1` (and not
 * `.decide-in-action`-only paths still needed) are retired. Then, as for DECIDE_IN_ACTION (pre-patch.ts): first replace
 * `patched(FAULTS_V1)` with `deprecatePatch(FAULTS_V1)` and keep only the `faults` side of each `if (faults)` /
 * `ctx.faults`; one deploy later, delete the `deprecatePatch` call.
 */
export const FAULTS_V1 = 'faults-v1';

/** How often a paused job re-reads the freeze: doubling from the first, up to the last. */
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

/** Runs one job to its end state. Succeeds with the step outputs; otherwise fails after compensating. */
export async function jobWorkflow(input: JobInput): Promise<JobResult> {
  const jobId = workflowInfo().workflowId;
  const state: JobState = {
    jobId,
    agent: input.agent,
    title: input.title,
    requester: input.requester,
    ...(input.caller ? { caller: input.caller } : {}),
    status: JobStatus.Running,
    steps: input.steps.map((s) => ({ id: s.id, action: s.action, risk: s.risk, status: StepStatus.Pending })),
    compensated: [],
    approvals: [],
    spent: { actions: 0, cost: 0 },
    startedAt: now(),
    ...(input.retryOf ? { retryOf: input.retryOf } : {}),
  };
  const deadline = input.budget.deadline ? Date.parse(input.budget.deadline) : undefined;

  setHandler(jobStateQuery, () => state);
  setHandler(freezeSignal, (entry) => {
    if (!entry.agent || entry.agent === input.agent) state.frozen = entry;
  });
  setHandler(unfreezeSignal, ({ agent }) => {
    // The policy activity re-reads the freeze store before the next action, so a freeze still in force elsewhere
    // (global vs. this agent) is caught there.
    if (state.frozen && state.frozen.agent === agent) state.frozen = undefined;
  });
  setHandler(decideUpdate, (vote) => recordVote(state, vote), {
    validator: (vote: Vote) => validateVote(state, input, vote),
  });

  // Jobs started before this patch decide in a local activity of its own, then act: one more activation per action.
  const decideInAction = patched(DECIDE_IN_ACTION);
  const faults = patched(FAULTS_V1);

  const setStatus = (status: JobStatus) => {
    state.status = status;
    upsertSearchAttributes([
      { key: airlockStatusKey, value: status },
      { key: airlockAgentKey, value: input.agent },
    ]);
  };
  // The job starts with these search attributes set (src/jobs/submit.ts); jobs from before the patch set them again.
  if (!decideInAction) setStatus(JobStatus.Running);
  const { compensationOptions: _, ...auditedJob } = input;
  try {
    await jobAudit['job.started'](jobId, auditedJob);
  } catch (err) {
    // Only a non-retryable failure gets here (activities/audit-sink.ts): the job fails, and its status says so.
    if (patched(AUDIT_REFUSED_FAILS)) {
      state.error = describe(err);
      state.endedAt = now();
      setStatus(JobStatus.Failed);
    }
    throw err;
  }

  const outputs: Record<string, unknown> = {};
  // Pushed *before* each step runs: an action that timed out may still have acted.
  const undo: Undo[] = [];

  const remainingMs = () => (deadline === undefined ? Infinity : deadline - Date.now());
  const checkDeadline = (what: string) => {
    if (remainingMs() <= 0)
      throw fail(FailureType.DeadlineExceeded, `the job's deadline ${input.budget.deadline} passed before ${what}`);
  };

  /**
   * Waits out a pause-freeze; an abort-freeze stops the job. Since faults-v1 the job re-reads the freeze now and then
   * (the unfreeze signal may have come before a decision made on a freeze state up to a second old), and its
   * deadline still applies while paused.
   */
  const honourFreeze = async () => {
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

  // What the approval round, the compensations and the finishing share with the step loop.
  const ctx: JobContext = { jobId, input, state, undo, setStatus, remainingMs, checkDeadline, honourFreeze, faults };

  /** Output bytes the steps have put into history so far (faults-v1 bounds it: OUTPUTS_TOTAL_BYTES). */
  let inlineBytes = 0;

  /** Runs a step's activity; its compensation is registered first, since an action that timed out may have acted. */
  const runActivity = async (step: PlannedStep, stepState: StepState, call: ToolCall, options: StepActivityOptions) => {
    const { decide: _, ...plain } = call;
    if (step.compensation && !undo.some((u) => u.step.id === step.id)) undo.push({ step, call: plain });
    stepState.status = StepStatus.Running;
    stepState.input = call.input;
    stepState.startedAt = now();
    try {
      return await tools(options)[step.action](call);
    } catch (err) {
      stepState.status = StepStatus.Failed;
      stepState.error = describe(err);
      if (faults && refusedBeforeActing(err)) {
        // Refused before acting (on every attempt alike): there is nothing to undo.
        const i = undo.findIndex((u) => u.step.id === step.id);
        if (i >= 0) undo.splice(i, 1);
      }
      if (faults && mayHaveActedUnseen(err)) throw await unknownOutcome(step, stepState, call, err);
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
    step: PlannedStep,
    stepState: StepState,
    call: ToolCall,
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
      if (faults) {
        // Decided before acting: how much of the output may enter history (the rest is stored outside it).
        call = {
          ...call,
          outputLimit: Math.max(1024, Math.min(OUTPUT_INLINE_BYTES, OUTPUTS_TOTAL_BYTES - inlineBytes)),
        };
      }
      const decide: DecideRequest = {
        decisionNo,
        action: step.action,
        agent: input.agent,
        caller: input.caller ?? input.requester,
        context: input.context,
        gate: gateInput,
      };
      return (await runActivity(step, stepState, { ...call, decide }, options)) as ActionResult;
    }
    return decideThenAct(ctx, step, call, decisionNo, gateInput, (legacyCall, options) =>
      runActivity(step, stepState, legacyCall, options),
    );
  };

  try {
    for (const [index, step] of input.steps.entries()) {
      const stepState = state.steps[index];
      let resolved: Record<string, unknown>;
      try {
        resolved = resolveRefs(step.input, outputs);
      } catch (err) {
        if (!(err instanceof RefResolutionError)) throw err;
        stepState.status = StepStatus.Failed;
        stepState.error = { message: err.message, type: FailureType.RefResolution };
        throw fail(FailureType.RefResolution, `step ${step.id}: ${err.message}`);
      }
      const call: ToolCall = {
        jobId,
        stepId: step.id,
        idempotencyKey: `${jobId}/${step.id}`,
        input: resolved,
        ...(input.requestId ? { requestId: input.requestId } : {}),
      };

      // Decide (and act), asking humans as often as the policy requires it (again when it changed after an approval).
      let result: ActionResult;
      /** An attempt after the first came back without acting: an earlier attempt may have acted before failing. */
      let mayHaveActed = false;
      for (;;) {
        if (state.frozen || state.status === JobStatus.Frozen) await honourFreeze();
        checkDeadline(`step ${step.id}`);
        if (input.budget.maxActions !== undefined && state.spent.actions + 1 > input.budget.maxActions) {
          throw fail(
            FailureType.BudgetExceeded,
            `step ${step.id} would be action ${state.spent.actions + 1} of at most ${input.budget.maxActions}`,
          );
        }
        const approvedRequest = state.approvals.find(
          (r) => r.stepId === step.id && r.status === ApprovalStatus.Approved,
        );
        result = await tryStep(
          step,
          stepState,
          call,
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
      outputs[step.id] = output;
      stepState.output = output;
      stepState.status = StepStatus.Succeeded;
      if (faults) inlineBytes += jsonBytes(output);
    }
    if (!faults) {
      await finish(ctx, JobStatus.Succeeded);
      return { status: JobStatus.Succeeded, outputs };
    }
  } catch (err) {
    state.error = describe(err);
    const failures = await compensate(undo, input.compensationOptions, state, faults);
    if (failures.length) {
      await finish(ctx, JobStatus.CompensationFailed);
      throw ApplicationFailure.create({
        type: FailureType.CompensationFailed,
        nonRetryable: true,
        message: `job ${jobId} ${isCancellation(err) ? 'was cancelled' : 'failed'} and could not be fully undone: compensation of ${failures
          .map((f) => f.stepId)
          .join(', ')} failed`,
        details: [
          {
            failedCompensations: failures.map((f) => ({ stepId: f.stepId, ...describe(f.error) })),
            cause: state.error,
          },
        ],
        cause: failures[0].error instanceof Error ? failures[0].error : undefined,
      });
    }
    await finish(ctx, endStatus(err));
    throw err;
  }
  // faults-v1: the end state is reached; what follows (closing the trail, starting the callback's delivery) cannot
  // send the job back into compensating.
  await finish(ctx, JobStatus.Succeeded);
  return { status: JobStatus.Succeeded, outputs };

  /**
   * A step that may have acted without the workflow hearing of it (faults-v1): counted as spent, marked `unknown`,
   * and the policy's `onUnknownOutcome` decides: compensate as if it acted, or ask humans whether it did (a `reject`
   * means it did not: its compensation is dropped). The job stops either way; returns the failure to stop it with.
   */
  async function unknownOutcome(step: PlannedStep, stepState: StepState, call: ToolCall, err: unknown) {
    stepState.status = StepStatus.Unknown;
    state.spent = { ...state.spent, actions: state.spent.actions + 1 };
    const why = `step ${step.id} (${step.action}) may or may not have acted: ${describe(err).message}`;
    const rule = await unknownOutcomePolicy['policy.onUnknownOutcome']({
      agent: input.agent,
      action: step.action,
      input: call.input,
    });
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
      await askHumans(ctx, step, stepState, call.input, question, `${jobId}:${step.id}.outcome`);
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
  }
}

/** Failures the action's activity raises before acting, on every attempt alike. */
function refusedBeforeActing(err: unknown): boolean {
  const type = describe(err).type;
  return type === FailureType.InvalidToolInput || type === FailureType.ApprovalMismatch;
}

/** The activity started and then timed out or lost its worker, with no attempt left: it may have acted unseen. */
function mayHaveActedUnseen(err: unknown): boolean {
  if (!(err instanceof ActivityFailure) || !(err.cause instanceof TimeoutFailure)) return false;
  return err.cause.timeoutType === TimeoutType.START_TO_CLOSE || err.cause.timeoutType === TimeoutType.HEARTBEAT;
}
