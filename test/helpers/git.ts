/** Throw-away git repositories for the git tools and the saga tests. */
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { throwAwayRepo } from '../../src/dev/examples';

const ENV = {
  ...process.env,
  GIT_AUTHOR_NAME: 'Test',
  GIT_AUTHOR_EMAIL: 'test@localhost',
  GIT_COMMITTER_NAME: 'Test',
  GIT_COMMITTER_EMAIL: 'test@localhost',
};

export function gitOut(repo: string, ...args: string[]): string {
  return execFileSync('git', ['-C', repo, ...args], { env: ENV, encoding: 'utf8' }).trim();
}

export function gitOk(repo: string, ...args: string[]): boolean {
  try {
    execFileSync('git', ['-C', repo, ...args], { env: ENV, stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** A bare repository with one commit on `main` (README.md, VERSION), as the demo uses. */
export function makeRepo(): { repo: string; cleanup: () => void } {
  const { repo, workdir } = throwAwayRepo();
  return { repo, cleanup: () => rmSync(workdir, { recursive: true, force: true }) };
}

/** Commits subjects reachable from a branch, newest first. */
export function subjects(repo: string, ref: string): string[] {
  return gitOut(repo, 'log', '--format=%s', ref).split('\n');
}

/**
 * A commit on `branch` (created from, or moved ahead of, `from`) of a bare repository that adds or replaces `files`:
 * plumbing only, no working tree. Returns the commit.
 */
export function commitOnBranch(
  repo: string,
  { branch, from, files, message }: { branch: string; from: string; files: Record<string, string>; message: string },
): string {
  const git = (args: string[], input?: string) =>
    execFileSync('git', ['-C', repo, ...args], { env: ENV, encoding: 'utf8', input }).trim();
  const entries = git(['ls-tree', from])
    .split('\n')
    .filter((line) => line && !(line.split('\t')[1] in files));
  for (const [path, content] of Object.entries(files))
    entries.push(`100644 blob ${git(['hash-object', '-w', '--stdin'], content)}\t${path}`);
  const tree = git(['mktree'], entries.join('\n') + '\n');
  const commit = git(['commit-tree', tree, '-p', from, '-m', message]);
  git(['update-ref', `refs/heads/${branch}`, commit]);
  return commit;
}

/** A job of two steps on `repo`: branch `bump` from main, then commit VERSION 2 on it (release-bot). */
export function bumpVersionJob(repo: string) {
  return {
    agent: 'release-bot',
    title: 'Bump version',
    context: {},
    steps: [
      { id: 'branch', action: 'git.create_branch', input: { repo, branch: 'bump', from: 'main' } },
      {
        id: 'commit',
        action: 'git.commit',
        input: { repo, branch: 'bump', message: 'Bump', files: [{ path: 'VERSION', content: '2\n' }] },
      },
    ],
  };
}
