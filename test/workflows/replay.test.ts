/**
 * Recorded histories of the example jobs replay against today's workflow code. A change to workflows/ that would
 * break running jobs fails here; such a change needs `patched()` (or a new workflow type), not new recordings.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DeterminismViolationError } from '@temporalio/workflow';
import { Worker } from '@temporalio/worker';
import { workflowBundle } from '../helpers/temporal';

const dir = join(__dirname, '..', 'histories');
const histories = readdirSync(dir).filter((f) => f.endsWith('.json'));
const load = (file: string) => JSON.parse(readFileSync(join(dir, file), 'utf8'));

test('there are recorded histories to replay', () => {
  expect(histories).toEqual(
    expect.arrayContaining([
      // Before the decision moved into the action's activity (a local activity decided first).
      'ship-version-bump.json',
      'failing-release-check.json',
      // Since the `decide-in-action` patch.
      'ship-version-bump.decide-in-action.json',
      'failing-release-check.decide-in-action.json',
    ]),
  );
});

// Recorded as job `history-<name>` (scripts/record-histories.ts), in `<name>[.<tag>].json`: ids derived from the job
// id must match on replay.
const jobIdOf = (file: string) => `history-${file.split('.')[0]}`;

test.each(histories)('%s replays with the current workflow code', async (file) => {
  await Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, load(file), jobIdOf(file));
});

test('a history whose recorded commands differ from the code fails with a determinism error', async () => {
  const history = load('failing-release-check.json');
  const scheduled = history.events.find(
    (e: { activityTaskScheduledEventAttributes?: { activityType: { name: string } } }) =>
      e.activityTaskScheduledEventAttributes?.activityType.name === 'git.create_branch',
  );
  // As if an older version of the workflow had merged before branching.
  scheduled.activityTaskScheduledEventAttributes.activityType.name = 'git.merge';
  await expect(
    Worker.runReplayHistory({ workflowBundle: await workflowBundle() }, history, jobIdOf('failing-release-check.json')),
  ).rejects.toBeInstanceOf(DeterminismViolationError);
});
