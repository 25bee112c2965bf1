/**
 * A GitHub deployment protection rule, answered exactly once: the gate job (agent `github-deployments`, one step
 * `github.deployment_gate`) runs as this workflow's child under its own job id, so it is listed, decided, frozen and
 * audited as any job; its step answers `approved` once the policy (and the humans it names) allowed it. A job that
 * ends otherwise (denied, rejected, timed out, abort-frozen, cancelled, failed) is answered `rejected` here, with why.
 * The tool looks before it answers, so an environment already answered is never answered twice.
 */
import { ChildWorkflowFailure, ParentClosePolicy, executeChild, proxyActivities } from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError, WorkflowIdReusePolicy } from '@temporalio/common';
import type { JobInput } from '../src/core/job';
import { describe } from './context';
import type { jobWorkflow } from './job';

export interface DeploymentGateInput {
  /** The gate job's id and plan (planned by the caller as any submitted job). */
  jobId: string;
  plan: JobInput;
  /** Where GitHub waits: `owner/name`, the workflow run and the environment. */
  repo: string;
  runId: number;
  environment: string;
  /** Where the job's audit trail is shown, linked from GitHub's run (no secrets: it is in history). */
  auditUrl: string;
}

export interface DeploymentGateResult {
  jobId: string;
  state: 'approved' | 'rejected';
  reason?: string;
}

/** Answering `rejected` is retried for a day: GitHub waits up to 30 days for the answer. */
const answer = proxyActivities<Record<string, (call: unknown) => Promise<{ answered: boolean }>>>({
  startToCloseTimeout: '1 minute',
  scheduleToCloseTimeout: '1 day',
  retry: { initialInterval: '1s', maximumInterval: '5m' },
});

export async function deploymentGateWorkflow(input: DeploymentGateInput): Promise<DeploymentGateResult> {
  try {
    await executeChild<typeof jobWorkflow>('jobWorkflow', {
      workflowId: input.jobId,
      args: [input.plan],
      workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
      // The job finishes (and its step answers) even if this workflow is terminated.
      parentClosePolicy: ParentClosePolicy.ABANDON,
    });
    return { jobId: input.jobId, state: 'approved' };
  } catch (err) {
    // The gate job exists already (this gate was started before): it answers, or its own gate did.
    if (err instanceof WorkflowExecutionAlreadyStartedError) return { jobId: input.jobId, state: 'approved' };
    // The job's own failure (rejected by…, no decision in time, denied by rule…), not the child wrapper's.
    const reason = describe(err instanceof ChildWorkflowFailure && err.cause ? err.cause : err).message;
    // No policy decision needed to withhold a deployment: the activity acts without `decide`.
    await answer['github.deployment_gate']({
      jobId: input.jobId,
      stepId: 'gate',
      idempotencyKey: `${input.jobId}/gate.rejected`,
      input: {
        repo: input.repo,
        runId: input.runId,
        environment: input.environment,
        state: 'rejected',
        comment: clip(`Airlock rejected this deployment: ${reason}. Audit trail: ${input.auditUrl}`, 1024),
      },
    });
    return { jobId: input.jobId, state: 'rejected', reason };
  }
}

const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);
