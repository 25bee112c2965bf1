/**
 * What operations read of a job: its execution (Temporal's status and search attributes), its history and input,
 * its state (the `jobState` query, which closed jobs answer too while a worker runs), and the jobs linked to it.
 */
import { WorkflowNotFoundError, type Client, type WorkflowExecutionDescription } from '@temporalio/client';
import { jobStateQuery, repairStateQuery } from '../../workflows/messages';
import type { JobInput, JobState } from '../core/job';
import { jobIdSchema } from '../core/job-schema';
import { repairWorkflowId, type RepairState } from '../core/repair';
import { activitiesOf, fetchHistoryJson, jobInputOf, type ActivityRecord, type HistoryJson } from './history';
import { NotFoundError } from './errors';

export interface JobRecord {
  jobId: string;
  description: WorkflowExecutionDescription;
  /** Temporal's execution status: RUNNING, COMPLETED, FAILED, CANCELLED, TERMINATED, TIMED_OUT… */
  execution: string;
  /** AirlockStatus, as the job last set it. */
  status: string;
  history: HistoryJson;
  input: JobInput;
  activities: ActivityRecord[];
}

/** Reads a job's execution, history and input; NotFoundError when there is no such job. */
export async function readJob(client: Client, jobId: string): Promise<JobRecord> {
  const handle = client.workflow.getHandle(jobId);
  let description: WorkflowExecutionDescription;
  try {
    description = await handle.describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw new NotFoundError(`no job ${jobId}`);
    throw err;
  }
  if (description.type !== 'jobWorkflow') throw new NotFoundError(`${jobId} is not a job (${description.type})`);
  const history = await fetchHistoryJson(client, jobId, description.runId);
  return {
    jobId,
    description,
    execution: description.status.name,
    status: String(description.searchAttributes.AirlockStatus?.[0] ?? description.status.name),
    history,
    input: jobInputOf(history),
    activities: activitiesOf(history),
  };
}

/** The job's state from its workflow (closed jobs answer while a worker polls their task queue). */
export function jobState(client: Client, jobId: string): Promise<JobState> {
  return client.workflow.getHandle(jobId).query(jobStateQuery);
}

/** The jobs started as retries of `jobId` (AirlockRetryOf), oldest first. */
export async function retriesOf(client: Client, jobId: string): Promise<string[]> {
  const ids: { id: string; at: number }[] = [];
  // Job ids hold no quote (jobIdSchema): safe inside the literal.
  const id = jobIdSchema.parse(jobId);
  for await (const wf of client.workflow.list({ query: `AirlockRetryOf = '${id}'` }))
    ids.push({ id: wf.workflowId, at: wf.startTime.getTime() });
  return ids.sort((a, b) => a.at - b.at).map((x) => x.id);
}

/** The latest repair of a job (`<jobId>:repair`), undefined when it has none. */
export async function readRepair(client: Client, jobId: string): Promise<RepairState | undefined> {
  try {
    return await client.workflow.getHandle(repairWorkflowId(jobId)).query(repairStateQuery);
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw err;
  }
}
