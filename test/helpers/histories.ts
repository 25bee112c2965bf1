/**
 * How test/workflows/replay.test.ts names the workflow a history file is replayed as (ids derived from the job id,
 * e.g. the notifier's child workflow, must match), and a modified copy of workflows/ for tests that need workflow code
 * that diverges from history.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SAVED_PREFIX } from '../../src/operations/replay';

const root = join(__dirname, '..', '..');

/**
 * The workflow id a history file replays as: recorded ones (scripts/record-histories.ts) as `history-<name>` from
 * `<name>[.<tag>].json`; saved ones (`airlock replay --save`, `saved--<jobId>.json`) as the job they came from.
 */
export function replayIdOf(file: string): string {
  if (file.startsWith(SAVED_PREFIX)) return file.slice(SAVED_PREFIX.length, -'.json'.length);
  return `history-${file.split('.')[0]}`;
}

/**
 * A copy of workflows/ with `edits` applied to workflows/<file> (each `[find, replace]` must match), beside links to
 * src/ and node_modules so its imports resolve as in the checkout. Returns its workflows path.
 */
export function modifiedWorkflows(
  file: string,
  edits: [string, string][],
): { workflowsPath: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'airlock-workflows-'));
  cpSync(join(root, 'workflows'), join(dir, 'workflows'), { recursive: true });
  symlinkSync(join(root, 'src'), join(dir, 'src'));
  symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
  const path = join(dir, 'workflows', file);
  let src = readFileSync(path, 'utf8');
  for (const [find, replace] of edits) {
    if (!src.includes(find)) throw new Error(`workflows/${file} has no ${JSON.stringify(find)}`);
    src = src.replace(find, replace);
  }
  writeFileSync(path, src);
  return { workflowsPath: join(dir, 'workflows'), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
