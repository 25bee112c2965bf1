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
 *   step.ts           one step: decide and act, ask humans, register the compensation (shared with session.ts)
 *   session.ts        an agent's MCP session: each tool call an update running one step (see step.ts)
 *   approval-round.ts asking humans, waiting for their votes, escalating; the `decide` update's handler and validator
 *   compensate.ts     running the compensations in reverse when the job stops
 *   finish.ts         the end status, closing the audit trail, the callback; after the steps or after compensating
 *   pre-patch.ts      the decision path of jobs started before `decide-in-action`, and when it can be deleted
 *   context.ts        what they share: JobContext, the undo list's entries, the tools' and audit's proxies, helpers
 * Every history in test/histories must replay: moving code between these modules is free, changing the commands a
 * run issues (activities, their options, timers, upserts, markers, their order) needs `patched()`.
 */
import {
  ApplicationFailure,
  isCancellation,
  patched,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { decideUpdate, freezeSignal, jobStateQuery, unfreezeSignal } from './messages';
import type { Vote } from '../src/core/approval';
import { RefResolutionError, resolveRefs } from '../src/core/refs';
import { airlockAgentKey, airlockStatusKey } from '../src/core/search-attributes';
import {
  JobStatus,
  StepStatus,
  submittedEvent,
  type JobInput,
  type JobResult,
  type JobState,
  type ToolCall,
} from '../src/core/job';
import { FailureType } from '../src/core/failures';
import { GENERATION_2, describe, fail, jobAudit, now, openTrail, type JobContext, type Undo } from './context';
import { jsonBytes } from '../src/core/outputs';
import { recordVote, validateVote } from './approval-round';
import { compensate } from './compensate';
import { endStatus, finish } from './finish';
import { freezeWaiter, runStep } from './step';

/** The patch that moved the policy decision into the action's activity (see step.ts and pre-patch.ts). */
export const DECIDE_IN_ACTION = 'decide-in-action';
/** A job whose `job.started` the audit database refuses for good ends `failed` instead of staying `running`. */
export const AUDIT_REFUSED_FAILS = 'audit-refused-fails';
/** The largest submission that goes with the first action's input (history holds it twice then). */
const OPENING_INLINE_BYTES = 64 * 1024;

/**
 * The patch that makes jobs correct under faults (`faults` in the code; JobContext.faults in the other modules):
 *   - the end state is final: the callback is delivered by a workflow of its own after the job ends (finish.ts);
 *   - channels are told in the background; the audit part is written on the decision path (approval-round.ts,
 *     notifier.ts); the approval timeout runs from the request; a cancelled job closes its request everywhere;
 *   - a paused job re-checks the freeze and its deadline still applies (freezeWaiter in step.ts);
 *   - outputs enter history bounded (ToolCall.outputLimit, src/core/outputs.ts);
 *   - compensations retry until they succeed or fail permanently; a step refused for its input is not undone;
 *   - a started action that timed out without retries is `unknown`, counted, and the policy's `onUnknownOutcome`
 *     decides (unknownOutcome in step.ts).
 * When the old branches can go: once no job started before this patch is running (`airlock jobs list --status
 * running` etc. shows none started before the deploy that brought it) and test/histories without `.faults-v1` (and not
 * `.decide-in-action`-only paths still needed) are retired. Then, as for DECIDE_IN_ACTION (pre-patch.ts): first replace
 * `patched(FAULTS_V1)` with `deprecatePatch(FAULTS_V1)` and keep only the `faults` side of each `if (faults)` /
 * `ctx.faults`; one deploy later, delete the `deprecatePatch` call.
 */
export const FAULTS_V1 = 'faults-v1';

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

  // Runs of generation 2 ask no older patch (context.ts).
  const generation2 = patched(GENERATION_2);
  // Jobs started before this patch decide in a local activity of its own, then act: one more activation per action.
  const decideInAction = generation2 || patched(DECIDE_IN_ACTION);
  const faults = generation2 || patched(FAULTS_V1);

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
  // Generation 2: the submission goes with the first action's decision (no local activity of its own) when that
  // action's workers may see the whole job anyway (every step on one task queue) and it is small.
  const opening = generation2 ? submittedEvent(jobId, auditedJob) : undefined;
  const foldOpening =
    opening !== undefined &&
    input.steps.every((s) => s.options.taskQueue === input.steps[0]?.options.taskQueue) &&
    jsonBytes(opening) <= OPENING_INLINE_BYTES;
  try {
    if (!foldOpening) await jobAudit['job.started'](jobId, auditedJob);
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

  /** Waits out a pause-freeze; an abort-freeze stops the job (since faults-v1 re-reading the freeze: step.ts). */
  const honourFreeze = freezeWaiter({ input, state, setStatus, remainingMs, checkDeadline }, faults);

  // What the approval round, the compensations and the finishing share with the step loop.
  const ctx: JobContext = {
    jobId,
    input,
    state,
    undo,
    setStatus,
    remainingMs,
    checkDeadline,
    honourFreeze,
    faults,
    generation2,
    ...(foldOpening ? { opening } : {}),
  };

  /** Output bytes the steps have put into history so far (faults-v1 bounds it: OUTPUTS_TOTAL_BYTES). */
  const outputBytes = { inline: 0 };

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

      // Decide (and act), asking humans as often as the policy requires it (workflows/step.ts).
      const closes = generation2 && index === input.steps.length - 1;
      const { output } = await runStep(
        ctx,
        { step, stepState, call, resolved },
        { decideInAction, outputBytes, ...(closes ? { closes } : {}) },
      );
      outputs[step.id] = output;
    }
    if (!faults) {
      await finish(ctx, JobStatus.Succeeded);
      return { status: JobStatus.Succeeded, outputs };
    }
  } catch (err) {
    state.error = describe(err);
    // The submission first, if no action wrote it, before compensations enter the trail.
    await openTrail(ctx);
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
}
