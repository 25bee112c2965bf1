/**
 * Starting a job: validate and plan it, then start its workflow. Nothing starts unless the whole job is valid.
 */
import { randomUUID } from 'node:crypto';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { TypedSearchAttributes, WorkflowIdReusePolicy, type SearchAttributePair } from '@temporalio/common';
import type { AttestationKey } from '../core/attestation';
import type { FreezeReader } from '../core/contracts';
import type { ToolRegistry } from '../../activities/registry';
import { JobFrozenError } from '../freeze';
import type { jobWorkflow } from '../../workflows/job';
import { airlockAgentKey, airlockStatusKey } from '../core/search-attributes';
import { JobStatus, type JobInput } from '../core/job';
import { planJob } from './plan';
import type { ToolQueues } from '../core/tool-queues';
import { jobIdSchema } from '../core/job-schema';

export interface SubmitOptions {
  registry: ToolRegistry;
  /** Refuses jobs for a frozen agent. */
  freeze?: FreezeReader;
  taskQueue: string;
  /** Task queue per tool family (AIRLOCK_TOOL_QUEUES); unrouted tools run on `taskQueue`. */
  toolQueues?: ToolQueues;
  requester: string;
  jobId?: string;
  /** The channel keys whose vote attestations the job trusts; without any, no vote can count. */
  attestationKeys?: AttestationKey[];
}

export interface Submitted {
  jobId: string;
  plan: JobInput;
  handle: WorkflowHandle<typeof jobWorkflow>;
}

/** Validates, plans and starts a job; throws JobValidationError (nothing started) when the job is invalid. */
export async function submitJob(client: Client, raw: unknown, opts: SubmitOptions): Promise<Submitted> {
  const plan = planJob(raw, opts.registry, opts.requester, opts.toolQueues);
  if (opts.attestationKeys) plan.attestationKeys = opts.attestationKeys;
  return startPlannedJob(client, plan, opts);
}

/** Throws JobFrozenError when a freeze covers the agent: new jobs for it are refused until unfrozen. */
export async function refuseIfFrozen(freeze: FreezeReader | undefined, agent: string): Promise<void> {
  const entry = await freeze?.lookup(agent);
  if (entry) throw new JobFrozenError(entry);
}

/** Starts the workflow of a job already planned by planJob. */
export async function startPlannedJob(
  client: Client,
  plan: JobInput,
  opts: Pick<SubmitOptions, 'taskQueue' | 'jobId' | 'freeze'> & {
    memo?: Record<string, unknown>;
    /** Search attributes besides status and agent (a retry's AirlockRetryOf). */
    searchAttributes?: SearchAttributePair[];
  },
): Promise<Submitted> {
  await refuseIfFrozen(opts.freeze, plan.agent);
  const jobId = jobIdSchema.parse(opts.jobId ?? `job-${randomUUID()}`);
  const handle = await client.workflow.start<typeof jobWorkflow>('jobWorkflow', {
    workflowId: jobId,
    taskQueue: opts.taskQueue,
    args: [plan],
    // A job id names one run, ever: a start after the job ended is refused, never a second run of the same job.
    workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
    ...(opts.memo ? { memo: opts.memo } : {}),
    // Set at start too, so the job is listable before its first workflow task runs.
    typedSearchAttributes: new TypedSearchAttributes([
      { key: airlockStatusKey, value: JobStatus.Running },
      { key: airlockAgentKey, value: plan.agent },
      ...(opts.searchAttributes ?? []),
    ]),
  });
  return { jobId, plan, handle };
}
