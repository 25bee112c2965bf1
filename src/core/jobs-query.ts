/**
 * The one place Temporal visibility queries over jobs are written (CLI lists, approvals, freeze broadcasts).
 */
/** Values a list filter may hold: the characters of agent names and statuses, nothing a query could be bent with. */
function literal(value: string): string {
  if (!/^[A-Za-z0-9._:-]+$/.test(value)) throw new Error(`"${value}" has characters a filter cannot hold`);
  return `'${value}'`;
}

/** The end states of a job that did not succeed (`jobs list --failed-since`). */
export const FAILED_STATUSES = ['failed', 'timed_out', 'rejected', 'cancelled', 'compensation_failed'];

export function jobsQuery(
  filter: { status?: string; agent?: string; running?: boolean; failedSince?: Date; workflowType?: string } = {},
): string {
  // Agent sessions are jobs too (kind `session`): listed, counted, frozen and approved alike.
  const types = filter.workflowType ? [filter.workflowType] : ['jobWorkflow', 'sessionWorkflow'];
  const clauses = [`WorkflowType IN (${types.map(literal).join(', ')})`];
  if (filter.running) clauses.push("ExecutionStatus = 'Running'");
  if (filter.status) clauses.push(`AirlockStatus = ${literal(filter.status)}`);
  if (filter.failedSince) {
    clauses.push(`AirlockStatus IN (${FAILED_STATUSES.map(literal).join(', ')})`);
    clauses.push(`CloseTime > '${filter.failedSince.toISOString()}'`);
  }
  if (filter.agent) clauses.push(`AirlockAgent = ${literal(filter.agent)}`);
  return clauses.join(' AND ');
}
