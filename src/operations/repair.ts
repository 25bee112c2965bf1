/**
 * Repairing a `compensation_failed` job: `airlock compensate` runs the failed compensations again once their cause is
 * fixed, `airlock resolve` records that a step was undone by hand. The job's workflow has ended, so a repair workflow
 * (`<jobId>:repair`, workflows/repair.ts) does it, started here with what to undo: the steps the job's final state
 * says could not be undone, each with the call its compensation last ran with (from the job's history: the same
 * activity and idempotency key).
 */
import type { Client } from '@temporalio/client';
import { TypedSearchAttributes, WorkflowExecutionAlreadyStartedError, WorkflowIdReusePolicy } from '@temporalio/common';
import type { repairWorkflow } from '../../workflows/repair';
import { JobStatus } from '../core/job';
import { repairWorkflowId, type RepairInput, type RepairState, type RepairStep } from '../core/repair';
import { airlockAgentKey, airlockStatusKey } from '../core/search-attributes';
import { NotFoundError, OperationRefusedError } from './errors';
import { jobState, readJob, readRepair } from './job';

export interface RepairRequest {
  mode: 'compensate' | 'resolve';
  operator: string;
  /** Only this step (required to resolve). */
  stepId?: string;
  /** What was done by hand (required to resolve). */
  note?: string;
}

/** What a repair would do; refuses when the job's state does not allow it. */
export async function planRepair(client: Client, jobId: string, req: RepairRequest): Promise<RepairInput> {
  const job = await readJob(client, jobId);
  if (job.execution === 'RUNNING')
    throw new OperationRefusedError(
      'job_running',
      `job ${jobId} is still ${job.status}; its compensations are still being tried (see airlock jobs show)`,
    );
  const previous = await readRepair(client, jobId);
  if (previous?.status === 'repairing')
    throw new OperationRefusedError('repair_running', `a repair of ${jobId} is running; wait for it to end`);
  if (!previous && job.status !== JobStatus.CompensationFailed)
    throw new OperationRefusedError(
      'not_compensation_failed',
      `job ${jobId} ended ${job.status}: only a compensation_failed job has compensations to repair`,
    );
  const steps: RepairStep[] = previous?.steps ?? (await failedCompensations(client, jobId, job));
  const pending = steps.filter((s) => s.status === 'compensation_failed');
  if (!pending.length)
    throw new OperationRefusedError(
      'nothing_to_repair',
      `job ${jobId} has nothing left to undo (${previous?.status ?? 'no failed compensation'})`,
    );
  if (req.mode === 'resolve' && (!req.stepId || !req.note?.trim()))
    throw new OperationRefusedError('step_and_note_required', 'resolve needs the step and a note saying what was done');
  let stepIds = pending.map((s) => s.stepId);
  if (req.stepId) {
    const step = steps.find((s) => s.stepId === req.stepId);
    if (!step) throw new NotFoundError(`step ${req.stepId} of job ${jobId} has no failed compensation`);
    if (step.status !== 'compensation_failed')
      throw new OperationRefusedError('step_repaired', `step ${req.stepId} of job ${jobId} is already ${step.status}`);
    stepIds = [req.stepId];
  }
  return {
    jobId,
    agent: job.input.agent,
    operator: req.operator,
    mode: req.mode,
    stepIds,
    ...(req.note ? { note: req.note.trim() } : {}),
    steps,
    history: previous?.history ?? [],
    options: job.input.compensationOptions,
  };
}

/** The steps the job's final state says could not be undone, each with its compensation's last call. */
async function failedCompensations(
  client: Client,
  jobId: string,
  job: Awaited<ReturnType<typeof readJob>>,
): Promise<RepairStep[]> {
  const state = await jobState(client, jobId);
  return state.steps
    .filter((s) => s.status === 'compensation_failed')
    .map((s) => {
      const planned = job.input.steps.find((p) => p.id === s.id)!;
      const last = job.activities.filter((a) => a.compensation && a.stepId === s.id).at(-1);
      if (!planned.compensation || !last?.call)
        throw new Error(`job ${jobId}: no compensation of step ${s.id} in its history`);
      return {
        stepId: s.id,
        action: s.action,
        compensation: planned.compensation,
        call: last.call,
        status: 'compensation_failed' as const,
        ...(s.compensationError ? { error: s.compensationError } : {}),
      };
    });
}

/**
 * Starts the repair; waits up to `waitMs` for it to end and returns its state (`repairing` when it has not ended by
 * then: ask `airlock jobs show` later).
 */
export async function startRepair(
  client: Client,
  taskQueue: string,
  input: RepairInput,
  waitMs = 60_000,
): Promise<RepairState> {
  let handle;
  try {
    handle = await client.workflow.start<typeof repairWorkflow>('repairWorkflow', {
      workflowId: repairWorkflowId(input.jobId),
      taskQueue,
      args: [input],
      // Each repair is a new run of the same id; one at a time.
      workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
      typedSearchAttributes: new TypedSearchAttributes([
        { key: airlockStatusKey, value: JobStatus.Running },
        { key: airlockAgentKey, value: input.agent },
      ]),
    });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError)
      throw new OperationRefusedError('repair_running', `a repair of ${input.jobId} is running; wait for it to end`);
    throw err;
  }
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), waitMs)));
  try {
    const done = await Promise.race([handle.result(), timeout]);
    return done ?? { jobId: input.jobId, status: 'repairing', steps: input.steps, history: input.history };
  } finally {
    clearTimeout(timer);
  }
}
