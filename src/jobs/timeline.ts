/** Renders a job's state as a human-readable timeline (CLI, demo). */
import type { JobState } from '../core/job';

const ms = (a?: string, b?: string) => (a && b ? `${Date.parse(b) - Date.parse(a)}ms` : '');

export function formatTimeline(state: JobState): string {
  const lines = [
    `${state.kind ?? 'job'} ${state.jobId} "${state.title}" agent=${state.agent} requester=${state.requester} → ${state.status}`,
  ];
  const width = Math.max(...state.steps.map((s) => s.id.length));
  const actionWidth = Math.max(...state.steps.map((s) => s.action.length));
  state.steps.forEach((s, i) => {
    const detail = s.error ? `  ${s.error.type ?? 'Error'}: ${s.error.message}` : '';
    const undo = s.compensationError ? `  undo failed: ${s.compensationError.message}` : '';
    lines.push(
      `  ${i + 1}. ${s.id.padEnd(width)}  ${s.action.padEnd(actionWidth)}  ${s.status.padEnd(19)} ${ms(s.startedAt, s.endedAt).padStart(7)}${detail}${undo}`,
    );
  });
  if (state.compensated.length) lines.push(`  compensated, in order: ${state.compensated.join(' → ')}`);
  if (state.error && !state.steps.some((s) => s.error)) lines.push(`  error: ${state.error.message}`);
  return lines.join('\n');
}
