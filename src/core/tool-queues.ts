/**
 * Which task queue a tool's activities run on: the execution workers that poll it hold that tool family's
 * credentials; the control plane holds none. Decided at submission (src/jobs/plan.ts) and carried in the plan.
 */

/** Tool name or family (`git`, `shell.run`, or `*` for every other tool) → task queue. */
export type ToolQueues = Readonly<Record<string, string>>;

/** The queue for a tool: its exact name, then its family (the part before the first dot), then `*`; else none. */
export function toolQueue(queues: ToolQueues, tool: string): string | undefined {
  const family = tool.split('.')[0];
  return queues[tool] ?? queues[family] ?? queues['*'];
}

/**
 * Parses `shell=exec-prod,git=exec,*=exec`; throws naming the bad entry. An empty string routes nothing (every tool
 * on the job's own task queue, as one process with both roles runs it).
 */
export function parseToolQueues(spec: string): ToolQueues {
  const out: Record<string, string> = {};
  for (const entry of spec
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean)) {
    const m = /^([A-Za-z0-9_*][\w.-]*)=([\w.\-/:]+)$/.exec(entry);
    if (!m || (m[1].includes('*') && m[1] !== '*'))
      throw new Error(`"${entry}" is not <tool or family>=<task queue> (e.g. shell=exec-prod, *=exec)`);
    if (m[1] in out) throw new Error(`"${m[1]}" is routed twice`);
    out[m[1]] = m[2];
  }
  return out;
}
