/** Shared by the scripts that record test/histories/<name>.<tag>.json for test/workflows/replay.test.ts. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { projectRoot } from '../src/temporal/binaries';

/** The tag named on the command line (e.g. the newest patch id); `usage` is shown when it is missing or malformed. */
export function recordingTag(usage: string): string {
  const tag = process.argv[2];
  if (!tag || !/^[a-z0-9-]+$/.test(tag)) throw new Error(`usage: ${usage}`);
  return tag;
}

/**
 * The job id a history of `<name>` is recorded under: the replay test derives it from the file name, since ids made
 * from the job id (approval request ids, idempotency keys) must match on replay.
 */
export const historyJobId = (name: string) => `history-${name}`;

/** Writes the closed workflow's history to test/histories/<name>.<tag>.json; returns the path and event count. */
export async function saveHistory(handle: WorkflowHandle, name: string, tag: string) {
  const history = await handle.fetchHistory();
  const out = join(projectRoot, 'test', 'histories', `${name}.${tag}.json`);
  writeFileSync(out, `${JSON.stringify(JSON.parse(historyToJSON(history)), null, 1)}\n`);
  return { out, events: history.events?.length ?? 0 };
}
