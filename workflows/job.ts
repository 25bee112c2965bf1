/**
 * The job saga: runs a job's steps in order, each as the activity named after its tool, and undoes what was done
 * when a step fails or the job is cancelled.
 *
 * Deterministic orchestration only (see eslint.config.mjs): tools are reached through proxyActivities by name, and
 * everything decided at submission (timeouts, retries, which steps have a compensation) arrives in the input.
 */
import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  isCancellation,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { Activity } from '../activities/create-activities';
import { jobStateQuery } from './messages';
import { RefResolutionError, resolveRefs } from './refs';
import { airlockAgentKey, airlockStatusKey } from './search-attributes';
import {
  FailureType,
  JobStatus,
  StepStatus,
  type JobInput,
  type JobResult,
  type JobState,
  type PlannedStep,
  type StepActivityOptions,
  type StepError,
  type ToolCall,
} from './types';

/** Backoff shared by actions and compensations; attempts and timeouts come per step. */
const RETRY_BACKOFF = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m' } as const;

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
    startedAt: now(),
  };
  setHandler(jobStateQuery, () => state);

  const setStatus = (status: JobStatus) => {
    state.status = status;
    upsertSearchAttributes([
      { key: airlockStatusKey, value: status },
      { key: airlockAgentKey, value: input.agent },
    ]);
  };
  setStatus(JobStatus.Running);

  const outputs: Record<string, unknown> = {};
  // Pushed *before* each step runs: an action that timed out may still have acted.
  const undo: Undo[] = [];

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
        throw ApplicationFailure.create({
          type: FailureType.RefResolution,
          nonRetryable: true,
          message: `step ${step.id}: ${err.message}`,
        });
      }
      const call: ToolCall = { jobId, stepId: step.id, idempotencyKey: `${jobId}/${step.id}`, input: resolved };
      const entry: Undo = { step, call };
      if (step.compensation) undo.push(entry);

      stepState.status = StepStatus.Running;
      stepState.input = resolved;
      stepState.startedAt = now();
      try {
        const output = await tools(step.options)[step.action](call);
        outputs[step.id] = output;
        entry.output = output;
        stepState.output = output;
        stepState.status = StepStatus.Succeeded;
      } catch (err) {
        stepState.status = StepStatus.Failed;
        stepState.error = describe(err);
        throw err;
      } finally {
        stepState.endedAt = now();
      }
    }
    state.endedAt = now();
    setStatus(JobStatus.Succeeded);
    return { status: JobStatus.Succeeded, outputs };
  } catch (err) {
    state.error = describe(err);
    const failures = await compensate(undo, input.compensationOptions, state);
    state.endedAt = now();
    if (failures.length) {
      setStatus(JobStatus.CompensationFailed);
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
    setStatus(isCancellation(err) ? JobStatus.Cancelled : JobStatus.Failed);
    throw err;
  }
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
