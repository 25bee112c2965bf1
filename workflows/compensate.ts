/**
 * Undoing a job: the compensations of the steps that ran (or may have), in reverse order.
 */
import { CancellationScope } from '@temporalio/workflow';
import { StepStatus, type JobState, type StepActivityOptions } from '../src/core/job';
import { describe, now, tools, type Undo } from './context';

/** A compensation that still failed after its retries. */
export interface CompensationFailure {
  stepId: string;
  error: unknown;
}

/**
 * Runs compensations in reverse, each retried; a cancel cannot interrupt them. Returns the ones that still failed.
 * Before faults-v1 each gave up after `options.maximumAttempts` (about six minutes); since, each keeps trying (backoff
 * capped at RETRY_BACKOFF's minute) until it succeeds or fails permanently (a non-retryable failure): an undo that
 * stops early leaves a change nobody meant to keep.
 */
export async function compensate(
  undo: Undo[],
  options: StepActivityOptions,
  state: JobState,
  faults = false,
): Promise<CompensationFailure[]> {
  if (faults) options = { ...options, maximumAttempts: 0 }; // 0: unlimited
  return CancellationScope.nonCancellable(async () => {
    const failures: CompensationFailure[] = [];
    for (const { step, call, output } of [...undo].reverse()) {
      const stepState = state.steps.find((s) => s.id === step.id)!;
      stepState.status = StepStatus.Compensating;
      try {
        // The undo runs where the action ran: only that queue's workers hold the tool's credentials.
        const where = step.options.taskQueue ? { ...options, taskQueue: step.options.taskQueue } : options;
        await tools(where)[step.compensation!]({ ...call, output });
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
