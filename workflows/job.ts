/**
 * The job saga: for each step, in order, run the tool's activity, which asks the policy right before acting and
 * returns the decision with the result (so the decision is in history); wait for humans when the policy says so and
 * try again; undo what was done when a step fails, is denied, rejected, times out, breaks the budget, is frozen with
 * `abort`, or the job is cancelled.
 *
 * Deterministic orchestration only (see eslint.config.mjs): tools are reached through proxyActivities by name, and
 * everything decided at submission (timeouts, retries, which steps have a compensation) arrives in the input.
 */
import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  condition,
  isCancellation,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { Activity, PolicyActivities, JobActivities, ApprovalActivities } from '../src/core/contracts';
import { decideUpdate, freezeSignal, jobStateQuery, unfreezeSignal } from './messages';
import { RefusalCode, ApprovalStatus, type ApprovalRequest, type Vote } from '../src/core/approval';
import { gate, type GateInput } from '../src/core/gate';
import { RefResolutionError, resolveRefs } from '../src/core/refs';
import { airlockAgentKey, airlockStatusKey } from '../src/core/search-attributes';
import {
  type ActionResult,
  type DecideRequest,
  JobStatus,
  StepStatus,
  type JobInput,
  type JobOutcome,
  type JobResult,
  type JobState,
  type PlannedStep,
  type StepActivityOptions,
  type StepError,
  type StepState,
  type ToolCall,
} from '../src/core/job';
import { FailureType } from '../src/core/failures';
import { type PolicyDecision } from '../src/core/decision';

/** The patch that moved the policy decision into the action's activity (see tryStep). */
export const DECIDE_IN_ACTION = 'decide-in-action';

/** Backoff shared by actions and compensations; attempts and timeouts come per step. */
const RETRY_BACKOFF = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m' } as const;
/** Policy evaluation is in-process and cheap: a local activity, retried briefly. */
const POLICY_OPTIONS = { startToCloseTimeout: '10s', retry: { maximumAttempts: 3, initialInterval: '200ms' } } as const;
/** Channel notifications retry for a while; a channel that stays down must not block the job's decisions. */
const NOTIFY_OPTIONS = { startToCloseTimeout: '30s', retry: { ...RETRY_BACKOFF, maximumAttempts: 5 } } as const;

/** Callbacks to other systems keep trying for about a day. */
const CALLBACK_OPTIONS = {
  startToCloseTimeout: '30s',
  retry: { initialInterval: '5s', backoffCoefficient: 2, maximumInterval: '1h', maximumAttempts: 30 },
} as const;

const policy = proxyLocalActivities<PolicyActivities>(POLICY_OPTIONS);
const channels = proxyActivities<ApprovalActivities>(NOTIFY_OPTIONS);
// Audit writes are quick database inserts: local activities, retried until they succeed.
const jobAudit = proxyLocalActivities<JobActivities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', maximumInterval: '30s' },
});
const callbacks = proxyActivities<JobActivities>(CALLBACK_OPTIONS);

function activityOptions(o: StepActivityOptions): ActivityOptions {
  return {
    startToCloseTimeout: o.startToCloseTimeoutMs,
    heartbeatTimeout: o.heartbeatTimeoutMs,
    retry: { ...RETRY_BACKOFF, maximumAttempts: o.maximumAttempts },
    // Compensations must not start while a cancelled action may still be acting.
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  };
}

function tools(o: StepActivityOptions): Record<string, Activity> {
  return proxyActivities<Record<string, Activity>>(activityOptions(o));
}

/** The innermost failure's message and type, for the query and the audit trail. */
function describe(err: unknown): StepError {
  let cause: unknown = err;
  while (cause instanceof ActivityFailure && cause.cause) cause = cause.cause;
  if (cause instanceof ApplicationFailure) return { message: cause.message, type: cause.type ?? undefined };
  if (cause instanceof Error) return { message: cause.message, type: cause.name };
  return { message: String(cause) };
}

const now = () => new Date().toISOString();
const fail = (type: FailureType, message: string, details?: unknown) =>
  ApplicationFailure.create({
    type,
    message,
    nonRetryable: true,
    details: details === undefined ? undefined : [details],
  });

/** The job's end state for a failure that stopped it. */
function endStatus(err: unknown): JobStatus {
  if (isCancellation(err)) return JobStatus.Cancelled;
  switch (describe(err).type) {
    case FailureType.ApprovalRejected:
      return JobStatus.Rejected;
    case FailureType.ApprovalTimedOut:
    case FailureType.DeadlineExceeded:
      return JobStatus.TimedOut;
    case FailureType.JobFrozen:
      return JobStatus.Cancelled;
    default:
      return JobStatus.Failed;
  }
}

function refuse(code: RefusalCode, message: string): never {
  throw ApplicationFailure.create({
    type: FailureType.ApprovalRefused,
    message,
    nonRetryable: true,
    details: [{ code }],
  });
}

interface Undo {
  step: PlannedStep;
  call: ToolCall;
  output?: unknown;
}

/** Runs one job to its end state. Succeeds with the step outputs; otherwise fails after compensating. */
export async function jobWorkflow(input: JobInput): Promise<JobResult> {
  const jobId = workflowInfo().workflowId;
  const state: JobState = {
    jobId,
    agent: input.agent,
    title: input.title,
    requester: input.requester,
    status: JobStatus.Running,
    steps: input.steps.map((s) => ({ id: s.id, action: s.action, risk: s.risk, status: StepStatus.Pending })),
    compensated: [],
    approvals: [],
    spent: { actions: 0, cost: 0 },
    startedAt: now(),
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
  setHandler(
    decideUpdate,
    (vote) => {
      // The validator (skipped on replay, where history already says the vote was accepted) made sure it is open.
      const request = state.approvals.find((r) => r.id === vote.requestId && r.status === ApprovalStatus.Pending)!;
      request.votes.push({ ...vote, at: now() });
      const approvals = countApprovals(request);
      if (vote.decision === 'reject') request.status = ApprovalStatus.Rejected;
      else if (approvals >= request.quorum) request.status = ApprovalStatus.Approved;
      return { requestId: request.id, status: request.status, approvals, quorum: request.quorum };
    },
    {
      validator: (vote: Vote) => {
        const request = state.approvals.find((r) => r.id === vote.requestId);
        if (!request) refuse(RefusalCode.UnknownRequest, `no approval request ${vote.requestId} in job ${jobId}`);
        if (request.status !== ApprovalStatus.Pending)
          refuse(RefusalCode.RequestClosed, `request ${request.id} is already ${request.status}`);
        if (vote.approver === input.requester)
          refuse(RefusalCode.SelfApproval, `${vote.approver} requested this job and cannot approve it`);
        if (!vote.approverGroups.some((g) => request.groups.includes(g))) {
          refuse(RefusalCode.NotInGroup, `${vote.approver} is not in ${request.groups.join(' or ')}`);
        }
        if (request.votes.some((v) => v.approver === vote.approver))
          refuse(RefusalCode.AlreadyVoted, `${vote.approver} has already voted on ${request.id}`);
        if (vote.digest !== request.inputDigest) {
          refuse(
            RefusalCode.DigestMismatch,
            `the vote is for input ${vote.digest}, but the request is for ${request.inputDigest}: look again`,
          );
        }
      },
    },
  );

  // Jobs started before this patch decide in a local activity of its own, then act: one more activation per action.
  const decideInAction = patched(DECIDE_IN_ACTION);

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
  await jobAudit['job.started'](jobId, auditedJob);

  /** Closes the audit trail (signing its head) and calls the caller back. Runs even when the job was cancelled. */
  const finish = async (status: JobStatus) => {
    state.endedAt = now();
    setStatus(status);
    const outcome: JobOutcome = {
      jobId,
      agent: input.agent,
      status,
      ...(state.error ? { error: state.error } : {}),
      compensated: state.compensated,
      spent: state.spent,
      startedAt: state.startedAt,
      endedAt: state.endedAt,
    };
    await CancellationScope.nonCancellable(async () => {
      await jobAudit['job.finished'](outcome, input.requestId);
      if (input.callbackUrl) await callbacks['job.callback'](input.callbackUrl, outcome);
    });
  };

  const outputs: Record<string, unknown> = {};
  // Pushed *before* each step runs: an action that timed out may still have acted.
  const undo: Undo[] = [];

  const remainingMs = () => (deadline === undefined ? Infinity : deadline - Date.now());
  const checkDeadline = (what: string) => {
    if (remainingMs() <= 0)
      throw fail(FailureType.DeadlineExceeded, `the job's deadline ${input.budget.deadline} passed before ${what}`);
  };

  /** Waits out a pause-freeze; an abort-freeze stops the job. */
  const honourFreeze = async () => {
    while (state.frozen) {
      if (state.frozen.mode === 'abort') {
        throw fail(FailureType.JobFrozen, `frozen by ${state.frozen.by}: ${state.frozen.reason}`, state.frozen);
      }
      setStatus(JobStatus.Frozen);
      await condition(() => !state.frozen || state.frozen.mode === 'abort');
    }
    if (state.status === JobStatus.Frozen) setStatus(JobStatus.Running);
  };

  /** Asks humans; resolves when approved, throws when rejected or timed out. */
  const askHumans = async (
    step: PlannedStep,
    stepState: StepState,
    resolved: Record<string, unknown>,
    decision: PolicyDecision,
  ) => {
    const req = decision.approval!;
    const requestedAt = Date.now();
    const request: ApprovalRequest = {
      id: `${jobId}:${step.id}`,
      jobId,
      stepId: step.id,
      title: input.title,
      agent: input.agent,
      requester: input.requester,
      action: step.action,
      risk: step.risk,
      input: resolved,
      inputDigest: decision.inputDigest,
      policyHash: decision.policyHash,
      ruleId: decision.ruleId,
      reason: decision.reason,
      groups: req.groups,
      quorum: req.quorum,
      channels: req.channels,
      status: ApprovalStatus.Pending,
      votes: [],
      requestedAt: new Date(requestedAt).toISOString(),
      deadline: new Date(requestedAt + req.timeoutMs).toISOString(),
      escalated: false,
      rollbackPlan: [...undo]
        .reverse()
        .map((u) => ({ stepId: u.step.id, action: u.step.action, compensation: u.step.compensation! })),
    };
    // A request asked again (policy changed since the approval) replaces the closed one under the same id.
    state.approvals = [...state.approvals.filter((r) => r.id !== request.id), request];
    stepState.status = StepStatus.AwaitingApproval;
    setStatus(JobStatus.AwaitingApproval);
    await channels['approvals.announce'](request, 'requested');

    const closed = () => request.status !== ApprovalStatus.Pending || state.frozen?.mode === 'abort';
    let told = 0;
    /** Waits until closed or timed out; tells the channels (and the audit) about each vote as it arrives. */
    const waitForDecision = async (timeoutMs: number) => {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const woke = await condition(() => closed() || request.votes.length > told, Math.max(until - Date.now(), 1));
        if (!woke) return false;
        if (closed()) return true;
        told = request.votes.length;
        await channels['approvals.update'](request);
      }
    };
    let decided = await waitForDecision(Math.min(req.timeoutMs, remainingMs()));
    if (!decided && req.escalation && remainingMs() > 0) {
      request.escalated = true;
      request.groups = req.escalation.groups;
      request.quorum = req.escalation.quorum;
      request.deadline = new Date(Date.now() + req.escalation.timeoutMs).toISOString();
      await channels['approvals.announce'](request, 'escalated');
      decided = await waitForDecision(Math.min(req.escalation.timeoutMs, remainingMs()));
    }
    if (!decided) {
      request.status = ApprovalStatus.TimedOut;
    } else if (request.status === ApprovalStatus.Pending) {
      request.status = ApprovalStatus.Cancelled; // an abort-freeze arrived while waiting
    }
    request.closedAt = now();
    await channels['approvals.update'](request);

    switch (request.status) {
      case ApprovalStatus.Approved:
        stepState.status = StepStatus.Pending;
        setStatus(JobStatus.Running);
        return;
      case ApprovalStatus.Rejected: {
        stepState.status = StepStatus.Rejected;
        const no = request.votes.find((v) => v.decision === 'reject')!;
        throw fail(
          FailureType.ApprovalRejected,
          `${no.approver} rejected ${request.id} via ${no.channel}${no.comment ? `: ${no.comment}` : ''}`,
          no,
        );
      }
      case ApprovalStatus.TimedOut:
        stepState.status = StepStatus.Rejected;
        checkDeadline(`approval of ${step.id}`);
        throw fail(
          FailureType.ApprovalTimedOut,
          `no decision on ${request.id} in time${request.escalated ? ', even after escalating to ' + request.groups.join(', ') : ''}`,
        );
      default:
        await honourFreeze();
    }
  };

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
      throw err;
    } finally {
      stepState.endedAt = now();
    }
  };

  /**
   * One try at a step: the policy decides and, when it allows (or humans approved this input under this policy), the
   * tool acts. Since `decideInAction` both happen in the action's activity; before, a local activity decided first.
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
      const decide: DecideRequest = {
        decisionNo,
        action: step.action,
        agent: input.agent,
        caller: input.requester,
        context: input.context,
        gate: gateInput,
      };
      return (await runActivity(step, stepState, { ...call, decide }, options)) as ActionResult;
    }
    const decision = await policy['policy.evaluate']({
      jobId,
      stepId: step.id,
      decisionNo,
      requestId: input.requestId,
      action: step.action,
      agent: input.agent,
      caller: input.requester,
      context: input.context,
      input: call.input,
    });
    const verdict = gate(decision, gateInput);
    if (!verdict.act)
      return { decision, acted: false, attempt: 1, ...(verdict.overBudget ? { overBudget: true } : {}) };
    const limits = decision.limits ?? {};
    const options: StepActivityOptions = {
      ...step.options,
      startToCloseTimeoutMs: Math.min(
        step.options.startToCloseTimeoutMs,
        limits.maxRuntimeMs ?? Infinity,
        remainingMs(),
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
    return { decision, acted: true, attempt: 1, output: await runActivity(step, stepState, legacyCall, options) };
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
        await askHumans(step, stepState, resolved, decision);
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
    }
    await finish(JobStatus.Succeeded);
    return { status: JobStatus.Succeeded, outputs };
  } catch (err) {
    state.error = describe(err);
    const failures = await compensate(undo, input.compensationOptions, state);
    if (failures.length) {
      await finish(JobStatus.CompensationFailed);
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
    await finish(endStatus(err));
    throw err;
  }
}

/** Approvals that count: distinct people in the request's current groups (escalation may change the groups). */
function countApprovals(request: ApprovalRequest): number {
  const yes = request.votes.filter(
    (v) => v.decision === 'approve' && v.approverGroups.some((g) => request.groups.includes(g)),
  );
  return new Set(yes.map((v) => v.approver)).size;
}

/** Runs compensations in reverse, each retried; a cancel cannot interrupt them. Returns the ones that still failed. */
async function compensate(undo: Undo[], options: StepActivityOptions, state: JobState) {
  return CancellationScope.nonCancellable(async () => {
    const failures: { stepId: string; error: unknown }[] = [];
    for (const { step, call, output } of [...undo].reverse()) {
      const stepState = state.steps.find((s) => s.id === step.id)!;
      stepState.status = StepStatus.Compensating;
      try {
        await tools(options)[step.compensation!]({ ...call, output });
        stepState.status = StepStatus.Compensated;
        stepState.compensatedAt = now();
        state.compensated.push(step.id);
      } catch (error) {
        // Keep undoing the rest: each compensation is independent, and a partial undo beats none.
        stepState.status = StepStatus.CompensationFailed;
        stepState.compensationError = describe(error);
        failures.push({ stepId: step.id, error });
      }
    }
    return failures;
  });
}
