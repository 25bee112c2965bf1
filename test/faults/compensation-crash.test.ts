/**
 * Fault suite: compensations under faults. git.commit's undo (a revert commit moving main) fails transiently twice,
 * then its worker is SIGKILLed after the revert landed but before the activity reported; a new worker resumes and
 * the job ends with every step compensated, the revert applied once. The faults come from an operator git hook
 * (AIRLOCK_GIT_HOOKS_PATH): reference-transaction aborts the ref update the first two times (a counter file), then
 * blocks once after the update is committed (a marker file), where the test kills the worker.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { builtinRegistry } from '../../activities';
import { planJob } from '../../src/jobs/plan';
import { startPlannedJob } from '../../src/jobs/submit';
import { jobStateQuery } from '../../workflows/messages';
import { gitOut, makeRepo } from '../helpers/git';
import { usePostgresDatabase } from '../helpers/postgres';
import { uniqueId, useTemporalServer } from '../helpers/temporal';
import { eventually } from '../helpers/wait';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process';

const temporal = useTemporalServer();
const pg = usePostgresDatabase();
const workers: WorkerProcess[] = [];
afterAll(async () => {
  await Promise.all(workers.map((w) => w.kill()));
});

test('a compensation failing transiently, then its worker killed mid-undo: every step compensated, once', async () => {
  const { repo, cleanup } = makeRepo();
  const hooks = `${repo}.hooks`;
  mkdirSync(hooks);
  const policy = join(hooks, '..', `${uniqueId('policy')}.yaml`);
  writeFileSync(
    policy,
    `version: 1
rules:
  - id: work
    match: { action: [git.commit, git.create_branch] }
    decision: allow
  - id: no-merges
    match: { action: git.merge }
    decision: deny
`,
  );
  const fails = join(hooks, 'fails');
  const applied = join(hooks, 'applied.log');
  const blocked = join(hooks, 'blocked');
  // Only the revert moving a branch (the compensation): not the forward commit, nor the revert's own worktree HEAD.
  writeFileSync(
    join(hooks, 'reference-transaction'),
    `#!/bin/sh
line=$(grep ' refs/heads/' | head -1)
[ -n "$line" ] || exit 0
new=$(echo "$line" | cut -d' ' -f2)
[ "$new" = 0000000000000000000000000000000000000000 ] && exit 0
git cat-file commit "$new" | grep -q '^Revert "' || exit 0
case "$1" in
prepared)
  n=$(cat '${fails}' 2>/dev/null || echo 0)
  if [ "$n" -lt 2 ]; then echo $((n + 1)) > '${fails}'; echo "transient failure $((n + 1))" >&2; exit 1; fi ;;
committed)
  echo "$new" >> '${applied}'
  if [ ! -e '${blocked}' ]; then touch '${blocked}'; sleep 120; fi ;;
esac
exit 0
`,
  );
  chmodSync(join(hooks, 'reference-transaction'), 0o755);
  const taskQueue = uniqueId('comp-crash');
  const spawnOpts = {
    address: temporal.env.connection.options.address,
    taskQueue,
    env: {
      AIRLOCK_DATABASE_URL: pg.url,
      AIRLOCK_DATA_DIR: hooks,
      AIRLOCK_POLICY_FILE: policy,
      AIRLOCK_GIT_HOOKS_PATH: hooks,
    },
  };
  try {
    workers.push(await spawnWorker({ ...spawnOpts, identity: 'worker-1' }));
    const plan = planJob(
      {
        agent: 'release-bot',
        title: 'Undo under faults',
        steps: [
          {
            id: 'commit',
            action: 'git.commit',
            input: { repo, branch: 'main', message: 'Add file', files: [{ path: 'a.txt', content: 'a\n' }] },
          },
          { id: 'branch', action: 'git.create_branch', input: { repo, branch: 'side', from: 'main' } },
          { id: 'merge', action: 'git.merge', input: { repo, source: 'side', target: 'main' } },
        ],
      },
      builtinRegistry(),
      'tester',
    );
    // A dead worker is noticed by the undo's start-to-close timeout: seconds here instead of the default minutes.
    plan.compensationOptions = { ...plan.compensationOptions, startToCloseTimeoutMs: 5_000 };
    const { handle } = await startPlannedJob(temporal.env.client, plan, {
      taskQueue,
      jobId: uniqueId('job'),
    });
    await eventually(() => existsSync(blocked), 'the revert to land, after two transient failures', 60_000);
    expect(readFileSync(fails, 'utf8').trim()).toBe('2');
    const killed = performance.now();
    await workers[0].kill();
    workers.push(await spawnWorker({ ...spawnOpts, identity: 'worker-2' }));
    await handle.result().catch(() => undefined);
    console.log(`compensation resumed and finished ${(performance.now() - killed).toFixed(0)} ms after the kill`);

    const state = await handle.query(jobStateQuery);
    expect(state.status).toBe('failed');
    expect(state.error).toMatchObject({ type: 'PolicyDenied' });
    expect(state.compensated).toEqual(['branch', 'commit']);
    expect(state.steps.filter((s) => s.status === 'compensated').map((s) => s.id)).toEqual(['commit', 'branch']);
    // The revert applied once: one ref update committed by the hook, one revert commit on main.
    expect(readFileSync(applied, 'utf8').trim().split('\n')).toHaveLength(1);
    const reverts = gitOut(repo, 'log', '--format=%s', 'main')
      .split('\n')
      .filter((s) => s.startsWith('Revert "'));
    expect(reverts).toEqual(['Revert "Add file"']);
    expect(gitOut(repo, 'branch', '--list', 'side')).toBe('');
  } finally {
    cleanup();
  }
}, 120_000);
