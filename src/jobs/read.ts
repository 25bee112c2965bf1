/**
 * Reading jobs back from Temporal: one job's state by id, and the jobs visibility lists (CLI, HTTP API).
 */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { callbackStatusQuery, callbackWorkflowId, jobStateQuery } from '../../workflows/messages';
import type { CallbackStatus, JobState } from '../core/job';
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

/** The jobs Temporal visibility lists for a filter. */
export async function* listJobs(client: Client, filter: Parameters<typeof jobsQuery>[0]): AsyncGenerator<JobSummary> {
  for await (const wf of client.workflow.list({ query: jobsQuery(filter) })) {
    yield {
      id: wf.workflowId,
      status: String(wf.searchAttributes.AirlockStatus?.[0] ?? wf.status.name),
      agent: String(wf.searchAttributes.AirlockAgent?.[0] ?? ''),
      kind: wf.type === SESSION_WORKFLOW ? 'session' : 'job',
      startedAt: wf.startTime,
    };
  }
}
