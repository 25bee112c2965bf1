/**
 * Finishing a job: its end status, the audit trail closed (its head signed), the caller called back. Runs after the
 * steps succeeded, and after compensating when they did not. Since faults-v1 the callback is delivered by a workflow
 * of its own (callback.ts), started here and left running: the job completes right after closing its trail.
 */
import {
  CancellationScope,
  ParentClosePolicy,
  isCancellation,
  proxyActivities,
  startChild,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { JobActivities } from '../src/core/contracts';
import { JobStatus, type JobOutcome } from '../src/core/job';
import { FailureType } from '../src/core/failures';
import { describe, jobAudit, jobOutcome, now, type JobContext } from './context';
import { callbackWorkflow } from './callback';
import { callbackWorkflowId } from './messages';

/** Before faults-v1: callbacks to other systems keep trying for about a day, inside the job. */
const CALLBACK_OPTIONS = {
  startToCloseTimeout: '30s',
  retry: { initialInterval: '5s', backoffCoefficient: 2, maximumInterval: '1h', maximumAttempts: 30 },
} as const;

const callbacks = proxyActivities<JobActivities>(CALLBACK_OPTIONS);

/** Closes the audit trail (signing its head) and calls the caller back. Runs even when the job was cancelled. */
export async function finish(ctx: JobContext, status: JobStatus): Promise<void> {
  const { jobId, input, state } = ctx;
  // Closed by the job's last action with its own end (GENERATION_2): the end as written there.
  const closed = status === JobStatus.Succeeded ? ctx.closedAt : undefined;
  state.endedAt = closed ?? now();
  ctx.setStatus(status);
  const outcome: JobOutcome = { ...jobOutcome(ctx, status), endedAt: state.endedAt };
  await CancellationScope.nonCancellable(async () => {
    // The submission too when none of the job's actions wrote it (GENERATION_2): it may have failed first.
    if (ctx.opening) await jobAudit['job.finished'](outcome, input.requestId, ctx.opening);
    else if (!closed) await jobAudit['job.finished'](outcome, input.requestId);
    if (ctx.faults) await ctx.notifier?.done();
    if (!input.callbackUrl) return;
    if (!ctx.faults) {
      await callbacks['job.callback'](input.callbackUrl, outcome);
      return;
    }
    try {
      await startChild(callbackWorkflow, {
        workflowId: callbackWorkflowId(jobId),
        args: [{ url: input.callbackUrl, outcome }],
        parentClosePolicy: ParentClosePolicy.ABANDON,
      });
    } catch (err) {
      // Already delivering (a reset job ending again): one delivery per job.
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    }
  });
}

/** The job's end state for a failure that stopped it. */
export function endStatus(err: unknown): JobStatus {
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
