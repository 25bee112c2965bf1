import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gitEnv, setGitHooksPath } from '../../../activities/git/git';
import { activityRunner, failureOf } from '../../helpers/activity';
import { gitOk, gitOut, makeRepo, subjects } from '../../helpers/git';

let repo: string;
let cleanup: () => void;
beforeEach(() => {
  ({ repo, cleanup } = makeRepo());
});
afterEach(() => cleanup?.());
const { run } = activityRunner();

describe('git.create_branch', () => {
  test('creates once; a retry returns the same branch; the undo deletes only what it created', async () => {
    const first = await run('git.create_branch', { input: { repo, branch: 'feature', from: 'main' } });
    const again = await run('git.create_branch', { input: { repo, branch: 'feature', from: 'main' } });
    expect(first).toEqual({ branch: 'feature', sha: gitOut(repo, 'rev-parse', 'main'), created: true });
    expect(again).toEqual(first);
    await run('git.create_branch.compensate', { input: { repo, branch: 'feature' } });
    expect(gitOk(repo, 'rev-parse', '--verify', 'refs/heads/feature')).toBe(false);
    // Undo again: nothing to undo, no error.
    await run('git.create_branch.compensate', { input: { repo, branch: 'feature' } });
  });

  test('a branch that existed before the job is returned but never deleted by the undo', async () => {
    gitOut(repo, 'branch', 'theirs', 'main');
    const out = await run('git.create_branch', { input: { repo, branch: 'theirs' } });
    expect(out).toMatchObject({ created: false });
    await run('git.create_branch.compensate', { input: { repo, branch: 'theirs' } });
    expect(gitOk(repo, 'rev-parse', '--verify', 'refs/heads/theirs')).toBe(true);
  });

  test('bad input is a non-retryable InvalidToolInput naming the field', async () => {
    const err = await failureOf(run('git.create_branch', { input: { repo, branch: 'bad..name' } }));
    expect(err.type).toBe('InvalidToolInput');
    expect(err.nonRetryable).toBe(true);
    expect(err.message).toContain('input.branch: is not a valid branch name');
  });
});

describe('git.commit', () => {
  test('a retried commit is found by its key trailer and not made twice', async () => {
    gitOut(repo, 'branch', 'work', 'main');
    const input = { repo, branch: 'work', message: 'Add a', files: [{ path: 'dir/a.txt', content: 'a\n' }] };
    const first = (await run('git.commit', { input })) as { sha: string; created: boolean };
    const again = (await run('git.commit', { input })) as { sha: string; created: boolean };
    expect(first.created).toBe(true);
    expect(again).toEqual({ ...first, created: false });
    expect(gitOut(repo, 'rev-list', '--count', 'main..work')).toBe('1');
    expect(gitOut(repo, 'show', 'work:dir/a.txt')).toBe('a');
    expect(gitOut(repo, 'log', '-1', '--format=%B', 'work')).toContain('Airlock-Idempotency-Key: job-1/step');
  });

  test('keys are matched exactly: step "s1" does not see the commit of step "s10"', async () => {
    gitOut(repo, 'branch', 'work', 'main');
    await run('git.commit', {
      stepId: 's10',
      input: { repo, branch: 'work', message: 'ten', files: [{ path: 'ten', content: '' }] },
    });
    const one = (await run('git.commit', {
      stepId: 's1',
      input: { repo, branch: 'work', message: 'one', files: [{ path: 'one', content: '' }] },
    })) as {
      created: boolean;
    };
    expect(one.created).toBe(true);
  });

  test('the undo reverts with a marked commit, once', async () => {
    gitOut(repo, 'branch', 'work', 'main');
    await run('git.commit', {
      input: { repo, branch: 'work', message: 'Add a', files: [{ path: 'a', content: 'a' }], delete: ['README.md'] },
    });
    await run('git.commit.compensate', {
      input: { repo, branch: 'work', message: 'Add a', files: [{ path: 'a', content: 'a' }] },
    });
    await run('git.commit.compensate', {
      input: { repo, branch: 'work', message: 'Add a', files: [{ path: 'a', content: 'a' }] },
    });
    expect(subjects(repo, 'work')).toEqual(['Revert "Add a"', 'Add a', 'Initial commit']);
    expect(gitOut(repo, 'diff', 'main', 'work')).toBe('');
  });

  test('a commit to a missing branch fails without retrying', async () => {
    const err = await failureOf(
      run('git.commit', { input: { repo, branch: 'ghost', message: 'm', files: [{ path: 'a', content: '' }] } }),
    );
    expect(err).toMatchObject({ type: 'GitError', nonRetryable: true });
  });
});

describe('git.merge', () => {
  test('merges with a merge commit, is idempotent, and the undo reverts the merge on the target', async () => {
    gitOut(repo, 'branch', 'feature', 'main');
    await run('git.commit', {
      stepId: 'c',
      input: { repo, branch: 'feature', message: 'Feature', files: [{ path: 'f', content: 'f' }] },
    });
    const input = { repo, source: 'feature', target: 'main' };
    const first = (await run('git.merge', { stepId: 'm', input })) as { sha: string; created: boolean };
    const again = (await run('git.merge', { stepId: 'm', input })) as { sha: string; created: boolean };
    expect(first.created).toBe(true);
    expect(again).toMatchObject({ sha: first.sha, created: false });
    expect(gitOut(repo, 'rev-list', '--parents', '-n', '1', 'main').split(' ')).toHaveLength(3);
    await run('git.merge.compensate', { stepId: 'm', input });
    expect(gitOk(repo, 'cat-file', '-e', 'main:f')).toBe(false);
    expect(subjects(repo, 'main')[0]).toBe(`Revert "Merge branch 'feature' into main"`);
  });

  test('a conflicting merge fails with the conflicting paths and changes nothing', async () => {
    gitOut(repo, 'branch', 'a', 'main');
    gitOut(repo, 'branch', 'b', 'main');
    await run('git.commit', {
      stepId: 'a',
      input: { repo, branch: 'a', message: 'a', files: [{ path: 'README.md', content: 'A' }] },
    });
    await run('git.commit', {
      stepId: 'b',
      input: { repo, branch: 'b', message: 'b', files: [{ path: 'README.md', content: 'B' }] },
    });
    await run('git.merge', { stepId: 'ma', input: { repo, source: 'a', target: 'main' } });
    const before = gitOut(repo, 'rev-parse', 'main');
    const err = await failureOf(run('git.merge', { stepId: 'mb', input: { repo, source: 'b', target: 'main' } }));
    expect(err).toMatchObject({ type: 'GitConflict', nonRetryable: true });
    expect(err.message).toContain('README.md');
    expect(gitOut(repo, 'rev-parse', 'main')).toBe(before);
  });
});

describe('git.delete_branch', () => {
  test('deletes with a backup, is idempotent, and the undo restores the branch at its tip', async () => {
    gitOut(repo, 'branch', 'old', 'main');
    const tip = gitOut(repo, 'rev-parse', 'old');
    expect(await run('git.delete_branch', { input: { repo, branch: 'old' } })).toEqual({
      branch: 'old',
      sha: tip,
      deleted: true,
    });
    expect(await run('git.delete_branch', { input: { repo, branch: 'old' } })).toEqual({
      branch: 'old',
      sha: tip,
      deleted: true,
    });
    expect(gitOk(repo, 'rev-parse', '--verify', 'refs/heads/old')).toBe(false);
    await run('git.delete_branch.compensate', { input: { repo, branch: 'old' } });
    expect(gitOut(repo, 'rev-parse', 'old')).toBe(tip);
    expect(gitOut(repo, 'for-each-ref', 'refs/airlock/')).toBe('');
  });
});

describe('git runs with no repository hooks, no worker secrets, inside its roots', () => {
  const hookNames = [
    'pre-commit',
    'commit-msg',
    'post-commit',
    'post-checkout',
    'reference-transaction',
    'pre-merge-commit',
  ];
  const installHooks = (dir: string, marker: string) => {
    mkdirSync(dir, { recursive: true });
    for (const name of hookNames) {
      writeFileSync(join(dir, name), `#!/bin/sh\necho ${name} >> '${marker}'\nenv >> '${marker}'\nexit 0\n`);
      chmodSync(join(dir, name), 0o755);
    }
  };

  test("a repository's own hooks never run, not even in the undo's worktree", async () => {
    const marker = `${repo}.hooks-ran`;
    gitOut(repo, 'branch', 'work', 'main');
    gitOut(repo, 'config', 'core.hooksPath', join(repo, 'hooks'));
    installHooks(join(repo, 'hooks'), marker); // after the test's own git calls, which would run them
    const input = { repo, branch: 'work', message: 'Add a', files: [{ path: 'a', content: 'a' }] };
    await run('git.create_branch', { input: { repo, branch: 'other', from: 'main' } });
    await run('git.commit', { input });
    await run('git.commit.compensate', { input });
    expect(subjects(repo, 'work')).toEqual(['Revert "Add a"', 'Add a', 'Initial commit']);
    expect(existsSync(marker) ? readFileSync(marker, 'utf8') : '').toBe('');
  });

  test('a worker secret is not in the environment git (and anything it starts) sees', async () => {
    process.env.AIRLOCK_SLACK_BOT_TOKEN = 'xoxb-worker-secret';
    const operatorHooks = `${repo}.operator-hooks`;
    const marker = `${repo}.operator-hook-env`;
    installHooks(operatorHooks, marker);
    setGitHooksPath(operatorHooks);
    try {
      await run('git.create_branch', { input: { repo, branch: 'seen', from: 'main' } });
      const seen = readFileSync(marker, 'utf8');
      expect(seen).toContain('reference-transaction'); // the operator's hook ran, so its env is what git passes on
      expect(seen).not.toContain('xoxb-worker-secret');
      expect(seen).toContain('GIT_CONFIG_NOSYSTEM=1');
      expect(Object.values(gitEnv())).not.toContain('xoxb-worker-secret');
    } finally {
      setGitHooksPath(undefined);
      delete process.env.AIRLOCK_SLACK_BOT_TOKEN;
    }
  });

  test("the worker's git roots and the policy's writable paths are enforced, through symlinks too", async () => {
    const elsewhere = mkdtempSync(join(tmpdir(), 'airlock-roots-'));
    const confined = activityRunner({ git: { allowedRoots: [elsewhere] } });
    const refused = await failureOf(confined.run('git.create_branch', { input: { repo, branch: 'x', from: 'main' } }));
    expect(refused).toMatchObject({ type: 'PathNotAllowed', nonRetryable: true });
    symlinkSync(repo, join(elsewhere, 'link'));
    expect(
      await failureOf(confined.run('git.create_branch', { input: { repo: join(elsewhere, 'link'), branch: 'x' } })),
    ).toMatchObject({ type: 'PathNotAllowed' });
    expect(
      await failureOf(
        run('git.create_branch', {
          input: { repo, branch: 'x', from: 'main' },
          limits: { writablePaths: [elsewhere] },
        }),
      ),
    ).toMatchObject({ type: 'PathNotAllowed' });
    expect(
      await failureOf(
        run('git.create_branch.compensate', { input: { repo, branch: 'x' }, limits: { writablePaths: [elsewhere] } }),
      ),
    ).toMatchObject({ type: 'PathNotAllowed' });
    await expect(
      run('git.create_branch', {
        input: { repo, branch: 'x', from: 'main' },
        limits: { writablePaths: [dirname(repo)] },
      }),
    ).resolves.toMatchObject({ created: true });
  });
});
