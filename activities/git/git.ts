/**
 * Thin helpers over the git CLI. The git tools use plumbing only (hash-object, merge-tree, commit-tree, update-ref
 * with the expected old value), so they work on bare and non-bare repositories alike, never touch a working tree,
 * and a concurrent writer makes the update fail instead of being overwritten.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { z } from 'zod';
import { FailureType } from '../../src/core/failures';
import { isUnder, realPath, SEARCH_PATH } from '../../src/core/facts';
import type { ToolContext } from '../tool';

export const ZERO_OID = '0000000000000000000000000000000000000000';

/** Trailer that marks a commit made by a step; finding it is how a retried step knows it already acted. */
export const KEY_TRAILER = 'Airlock-Idempotency-Key';
/** Trailer that marks a revert made by a compensation. */
export const REVERT_TRAILER = 'Airlock-Reverts';

const IDENTITY = { name: 'Airlock', email: 'airlock@localhost' };

export interface GitResult {
  stdout: string;
  stderr: string;
  code: number;
}

export class GitCommandError extends Error {
  constructor(
    readonly args: string[],
    readonly result: GitResult,
  ) {
    super(`git ${args.join(' ')} exited ${result.code}: ${result.stderr.trim() || result.stdout.trim()}`);
    this.name = 'GitCommandError';
  }
}

let scratchHome: string | undefined;

/**
 * git's environment, built from nothing: no worker secrets, no system or global config (a user's aliases,
 * credential helpers, hooksPath), no prompts. HOME is an empty directory of this process.
 */
export function gitEnv(extra: Record<string, string> = {}): Record<string, string> {
  scratchHome ??= mkdtempSync(join(tmpdir(), 'airlock-git-home-'));
  return {
    PATH: SEARCH_PATH.join(':'),
    HOME: scratchHome,
    LANG: 'C',
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_TERMINAL_PROMPT: '0',
    GIT_AUTHOR_NAME: IDENTITY.name,
    GIT_AUTHOR_EMAIL: IDENTITY.email,
    GIT_COMMITTER_NAME: IDENTITY.name,
    GIT_COMMITTER_EMAIL: IDENTITY.email,
    ...extra,
  };
}

/**
 * Settings that would run programs named by the repository's own config: hooks (a repository is data, its hooks
 * are someone else's code), fsmonitor, signing programs, pagers and editors.
 */
const SAFE_CONFIG = [
  '-c',
  'core.fsmonitor=false',
  '-c',
  'commit.gpgSign=false',
  '-c',
  'tag.gpgSign=false',
  '-c',
  'core.pager=cat',
  '-c',
  'core.editor=true',
  '-c',
  'core.sshCommand=false',
  '-c',
  'credential.helper=',
];

let hooksPath = '/dev/null';

/** Hooks the operator installs (AIRLOCK_GIT_HOOKS_PATH), never the repository's own; unset: none run. */
export function setGitHooksPath(path: string | undefined): void {
  hooksPath = path ?? '/dev/null';
}

/** The repository must be under the worker's git roots and the policy's writable paths (after resolving links). */
export function requireAllowedRepo(repo: string, ctx: Pick<ToolContext, 'deps' | 'limits'>): void {
  const real = realPath(repo);
  const check = (roots: string[] | undefined, what: string) => {
    if (roots?.length && !roots.some((root) => isUnder(real, root))) {
      throw ApplicationFailure.create({
        type: FailureType.PathNotAllowed,
        nonRetryable: true,
        message: `repository ${real} is outside the ${what} (${roots.join(', ')})`,
      });
    }
  };
  check(ctx.deps.git?.allowedRoots, 'allowed roots');
  check(ctx.limits?.writablePaths, 'writable paths');
}

/** Runs git in `repo`; resolves with the exit code instead of throwing when `allowFailure` is set. */
export function git(
  repo: string,
  args: string[],
  opts: { input?: string; env?: Record<string, string>; allowFailure?: boolean } = {},
): Promise<GitResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      'git',
      ['-c', `core.hooksPath=${hooksPath}`, ...SAFE_CONFIG, '-C', repo, ...args],
      { maxBuffer: 64 * 1024 * 1024, env: gitEnv(opts.env) },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        const result = { stdout, stderr, code };
        if (error && typeof error.code !== 'number') return reject(error);
        if (code !== 0 && !opts.allowFailure) return reject(new GitCommandError(args, result));
        resolve(result);
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** The object id a revision names, or undefined when it does not exist. */
export async function revParse(repo: string, rev: string): Promise<string | undefined> {
  const r = await git(repo, ['rev-parse', '--verify', '--quiet', `${rev}^{commit}`], { allowFailure: true });
  return r.code === 0 ? r.stdout.trim() : undefined;
}

export async function requireRepo(repo: string, ctx?: Pick<ToolContext, 'deps' | 'limits'>): Promise<void> {
  if (ctx) requireAllowedRepo(repo, ctx);
  const r = await git(repo, ['rev-parse', '--git-dir'], { allowFailure: true });
  if (r.code !== 0) {
    throw ApplicationFailure.create({
      type: FailureType.GitError,
      nonRetryable: true,
      message: `${repo} is not a git repository`,
    });
  }
}

export async function requireBranch(repo: string, branch: string): Promise<string> {
  const sha = await revParse(repo, `refs/heads/${branch}`);
  if (!sha) {
    throw ApplicationFailure.create({
      type: FailureType.GitError,
      nonRetryable: true,
      message: `branch "${branch}" does not exist in ${repo}`,
    });
  }
  return sha;
}

/** Moves a ref only if it still points where we read it; a concurrent writer turns into a retryable failure. */
export async function casUpdateRef(repo: string, ref: string, next: string, expected: string, reason: string) {
  const r = await git(repo, ['update-ref', '--create-reflog', '-m', reason, ref, next, expected], {
    allowFailure: true,
  });
  if (r.code !== 0) {
    throw ApplicationFailure.create({
      type: FailureType.GitRefMoved,
      message: `${ref} moved while updating it (${r.stderr.trim()}); will retry`,
    });
  }
}

const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/** Newest commit reachable from `ref` whose message has `<trailer>: <value>` on a line of its own. */
export async function findByTrailer(
  repo: string,
  ref: string,
  trailer: string,
  value: string,
  opts: { firstParent?: boolean } = {},
): Promise<string | undefined> {
  const args = ['log', '--format=%H', '-n', '1', '--extended-regexp', `--grep=^${trailer}: ${escapeRegex(value)}$`];
  if (opts.firstParent) args.push('--first-parent');
  const r = await git(repo, [...args, ref, '--'], { allowFailure: true });
  return r.code === 0 && r.stdout.trim() ? r.stdout.trim() : undefined;
}

export function withTrailers(message: string, trailers: Record<string, string>): string {
  const lines = Object.entries(trailers).map(([k, v]) => `${k}: ${v}`);
  return `${message.trimEnd()}\n\n${lines.join('\n')}\n`;
}

export async function commitTree(repo: string, tree: string, parents: string[], message: string): Promise<string> {
  const args = ['commit-tree', tree, ...parents.flatMap((p) => ['-p', p]), '-F', '-'];
  return (await git(repo, args, { input: message })).stdout.trim();
}

/**
 * Three-way merge of two commits without a working tree (`git merge-tree --write-tree`, git >= 2.38).
 * Returns the tree, or the conflicting paths.
 */
export async function mergeTrees(
  repo: string,
  ours: string,
  theirs: string,
): Promise<{ tree: string } | { conflicts: string[] }> {
  const args = ['merge-tree', '--write-tree', '--name-only', '--no-messages', ours, theirs];
  const r = await git(repo, args, { allowFailure: true });
  const [tree, ...rest] = r.stdout.trim().split('\n');
  if (r.code === 0) return { tree };
  if (r.code === 1) return { conflicts: rest.filter(Boolean) };
  throw new GitCommandError(args, r);
}

/**
 * Reverts `commit` on `branch` (a merge against its first parent) with a new commit that carries
 * `Airlock-Reverts: <key>`. Idempotent: a revert already made for the key is not made twice.
 *
 * git's own `revert` runs in a throw-away detached worktree (git < 2.40 has no `merge-tree --merge-base`), and the
 * branch moves only by compare-and-swap, so the repository's own working tree and index are never touched.
 */
export async function revertOnBranch(
  repo: string,
  branch: string,
  commit: string,
  key: string,
): Promise<string | undefined> {
  const ref = `refs/heads/${branch}`;
  if (await findByTrailer(repo, ref, REVERT_TRAILER, key)) return undefined;
  const tip = await requireBranch(repo, branch);
  const parents = (await git(repo, ['rev-list', '--parents', '-n', '1', commit])).stdout.trim().split(' ').slice(1);
  const dir = await mkdtemp(join(tmpdir(), 'airlock-revert-'));
  const worktree = join(dir, 'wt');
  try {
    await git(repo, ['worktree', 'add', '--quiet', '--detach', worktree, tip]);
    const mainline = parents.length > 1 ? ['-m', '1'] : [];
    const r = await git(worktree, ['revert', '--no-commit', ...mainline, commit], { allowFailure: true });
    if (r.code !== 0) {
      const conflicts = (await git(worktree, ['diff', '--name-only', '--diff-filter=U'], { allowFailure: true })).stdout
        .split('\n')
        .filter(Boolean);
      throw ApplicationFailure.create({
        type: FailureType.GitConflict,
        nonRetryable: true,
        message: `reverting ${commit.slice(0, 12)} on ${branch} conflicts in: ${conflicts.join(', ') || r.stderr.trim()}`,
        details: [{ conflicts }],
      });
    }
    const subject = (await git(repo, ['log', '-1', '--format=%s', commit])).stdout.trim();
    const message = withTrailers(`Revert "${subject}"\n\nThis reverts commit ${commit}.`, { [REVERT_TRAILER]: key });
    await git(worktree, ['commit', '--quiet', '--allow-empty', '-F', '-'], { input: message });
    const revert = (await git(worktree, ['rev-parse', 'HEAD'])).stdout.trim();
    await casUpdateRef(repo, ref, revert, tip, `airlock revert ${key}`);
    return revert;
  } finally {
    await git(repo, ['worktree', 'remove', '--force', worktree], { allowFailure: true });
    await rm(dir, { recursive: true, force: true });
    await git(repo, ['worktree', 'prune'], { allowFailure: true });
  }
}

/** A temporary index file, so commits are built without touching the repository's own index or working tree. */
export async function withTempIndex<T>(fn: (env: Record<string, string>) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'airlock-index-'));
  try {
    return await fn({ GIT_INDEX_FILE: join(dir, 'index') });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Input fields shared by the git tools. */
export const repoField = z
  .string()
  .min(1)
  .refine((p) => p.startsWith('/'), 'must be an absolute path');
export const branchField = z
  .string()
  .min(1)
  .max(200)
  .regex(/^(?!-)(?!.*\.\.)(?!.*\/\/)(?!.*@\{)[A-Za-z0-9._/-]+(?<!\.lock)(?<![/.])$/, 'is not a valid branch name');
