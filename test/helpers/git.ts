/** Throw-away git repositories for the git tools and the saga tests. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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

/** A bare repository with one commit on `main` holding README.md. */
export function makeRepo(): { repo: string; cleanup: () => void } {
  const root = mkdtempSync(join(tmpdir(), 'airlock-repo-'));
  const repo = join(root, 'repo.git');
  const seed = join(root, 'seed');
  execFileSync('git', ['init', '-q', '--bare', '-b', 'main', repo], { env: ENV });
  execFileSync('git', ['init', '-q', '-b', 'main', seed], { env: ENV });
  writeFileSync(join(seed, 'README.md'), '# demo\n');
  gitOut(seed, 'add', '.');
  gitOut(seed, 'commit', '-q', '-m', 'initial');
  gitOut(seed, 'push', '-q', repo, 'main');
  return { repo, cleanup: () => rmSync(root, { recursive: true, force: true }) };
}

/** Commits subjects reachable from a branch, newest first. */
export function subjects(repo: string, ref: string): string[] {
  return gitOut(repo, 'log', '--format=%s', ref).split('\n');
}
