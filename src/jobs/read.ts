/**
 * Reading jobs back from Temporal: one job's state by id, and the jobs visibility lists (CLI, HTTP API).
 */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { callbackStatusQuery, callbackWorkflowId, jobStateQuery } from '../../workflows/messages';
import { JobStatus, type CallbackStatus, type JobState } from '../core/job';
import { jobsQuery } from '../core/jobs-query';
import { SESSION_WORKFLOW } from '../core/session';

/** A job's state; undefined when there is no such job. */
export async function readJobState(client: Client, jobId: string): Promise<JobState | undefined> {
  try {
    return await client.workflow.getHandle(jobId).query(jobStateQuery);
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw err;
  }
}

/** Where the job's completion callback stands (faults-v1); undefined when it has none (yet, or before faults-v1). */
export async function readCallbackStatus(client: Client, jobId: string): Promise<CallbackStatus | undefined> {
  try {
    return await client.workflow.getHandle(callbackWorkflowId(jobId)).query(callbackStatusQuery);
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw err;
  }
}

export interface JobSummary {
  id: string;
  /** Airlock's status; Temporal's execution status for a job that never set one. */
  status: string;
  agent: string;
  /** `session` for an agent's MCP session, `job` for a planned job. */
  kind: 'job' | 'session';
  startedAt: Date;
}

/** How a repair left a job: compensated, or resolved by hand. */
const REPAIRED: string[] = [JobStatus.Compensated, JobStatus.ResolvedByHand];

/**
 * The jobs a repair (`<jobId>:repair`) left undone, with how: their own workflow ended compensation_failed and keeps
 * that AirlockStatus (a closed workflow cannot change it), so lists and counts look here.
 */
export async function repairedJobs(client: Client, status?: string): Promise<Map<string, string>> {
  const repaired = new Map<string, string>();
  for (const s of status ? [status] : REPAIRED) {
    for await (const wf of client.workflow.list({ query: jobsQuery({ workflowType: 'repairWorkflow', status: s }) }))
      repaired.set(wf.workflowId.replace(/:repair$/, ''), s);
  }
  return repaired;
}

/** Jobs by status, as `airlock_jobs` counts them: compensation_failed less the repaired ones, which count as repaired. */
export async function countJobs(client: Client, status: string): Promise<number> {
  if (REPAIRED.includes(status)) return (await repairedJobs(client, status)).size;
  const n = Number((await client.workflow.count(jobsQuery({ status }))).count);
  return status === JobStatus.CompensationFailed ? n - (await repairedJobs(client)).size : n;
}

/** The jobs Temporal visibility lists for a filter; a repaired job shows (and filters) as its repair left it. */
export async function* listJobs(client: Client, filter: Parameters<typeof jobsQuery>[0]): AsyncGenerator<JobSummary> {
  const wantsRepaired = filter?.status !== undefined && REPAIRED.includes(filter.status);
  const mayBeRepaired = !filter?.status || wantsRepaired || filter.status === JobStatus.CompensationFailed;
  const repaired = mayBeRepaired ? await repairedJobs(client) : new Map<string, string>();
  const query = jobsQuery(wantsRepaired ? { ...filter, status: JobStatus.CompensationFailed } : filter);
  for await (const wf of client.workflow.list({ query })) {
    const status = repaired.get(wf.workflowId) ?? String(wf.searchAttributes.AirlockStatus?.[0] ?? wf.status.name);
    if (filter?.status && status !== filter.status) continue;
    yield {
      id: wf.workflowId,
      status,
      agent: String(wf.searchAttributes.AirlockAgent?.[0] ?? ''),
      kind: wf.type === SESSION_WORKFLOW ? 'session' : 'job',
      startedAt: wf.startTime,
    };
  }
}
