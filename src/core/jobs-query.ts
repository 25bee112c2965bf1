/**
 * The one place Temporal visibility queries over jobs are written (CLI lists, approvals, freeze broadcasts).
 */
/** Values a list filter may hold: the characters of agent names and statuses, nothing a query could be bent with. */
function literal(value: string): string {
  if (!/^[A-Za-z0-9._-]+$/.test(value)) throw new Error(`"${value}" has characters a filter cannot hold`);
  return `'${value}'`;
}

export function jobsQuery(filter: { status?: string; agent?: string; running?: boolean } = {}): string {
  // Agent sessions are jobs too (kind `session`): listed, counted, frozen and approved alike.
  const clauses = ["WorkflowType IN ('jobWorkflow', 'sessionWorkflow')"];
  if (filter.running) clauses.push("ExecutionStatus = 'Running'");
  if (filter.status) clauses.push(`AirlockStatus = ${literal(filter.status)}`);
  if (filter.agent) clauses.push(`AirlockAgent = ${literal(filter.agent)}`);
  return clauses.join(' AND ');
}
