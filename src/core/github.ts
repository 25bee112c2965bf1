/**
 * GitHub vocabulary shared by the tools, the approval channel and the composition root: the client factory the
 * composition root hands in (tokens and the App's private key stay inside it), repository names, and the hidden
 * markers that make a retried write find what it already wrote.
 */
import { ApplicationFailure } from '@temporalio/common';
import type { Octokit } from 'octokit';
import { FailureType } from './failures';

/** An authenticated Octokit per repository (a GitHub App installation's, or the one plain token's). */
export interface GithubClients {
  /** `owner/name` → a client allowed to act on that repository. */
  forRepo(repo: string): Promise<Octokit>;
}

/** `owner/name`, as GitHub spells a repository. */
export const REPO_PATTERN = /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/;

export function splitRepo(repo: string): { owner: string; repo: string } {
  if (!REPO_PATTERN.test(repo)) throw new Error(`"${repo}" is not a GitHub repository (owner/name)`);
  const [owner, name] = repo.split('/');
  return { owner, repo: name };
}

/** A hidden HTML comment in a body written by Airlock: `<!-- airlock:<kind>:<key> -->`. */
export function marker(kind: string, key: string): string {
  return `<!-- airlock:${kind}:${key} -->`;
}

/** The commit trailer carrying the step's idempotency key (the same trailer the local git tools use). */
export const GITHUB_KEY_TRAILER = 'Airlock-Idempotency-Key';

/** Whether a commit message carries the trailer for `key`. */
export function hasKeyTrailer(message: string, key: string): boolean {
  return message.split('\n').some((line) => line.trim() === `${GITHUB_KEY_TRAILER}: ${key}`);
}

/** Where an approval request is shown on GitHub: the job's context, or the pull request a github.* action names. */
export function pullRequestOf(
  context: Record<string, unknown> | undefined,
  action: string,
  input: Record<string, unknown>,
): { repo: string; pr: number } | undefined {
  const pick = (repo: unknown, pr: unknown) =>
    typeof repo === 'string' && REPO_PATTERN.test(repo) && Number.isInteger(Number(pr)) && Number(pr) > 0
      ? { repo, pr: Number(pr) }
      : undefined;
  return (
    pick(context?.repo, context?.pr) ?? (action.startsWith('github.') ? pick(input.repo, input.number) : undefined)
  );
}

interface GithubHttpError {
  status: number;
  message: string;
  response?: { headers?: Record<string, string | undefined>; data?: unknown };
}

export function httpStatus(err: unknown): number | undefined {
  const s = (err as { status?: unknown })?.status;
  return typeof s === 'number' ? s : undefined;
}

/** Seconds GitHub asked us to wait, when `err` is a rate limit; undefined otherwise. */
export function rateLimitDelaySeconds(err: unknown, nowMs = Date.now()): number | undefined {
  const e = err as GithubHttpError;
  if (e?.status !== 403 && e?.status !== 429) return undefined;
  const headers = e.response?.headers ?? {};
  const retryAfter = Number(headers['retry-after']);
  if (/secondary rate limit/i.test(e.message) || (Number.isFinite(retryAfter) && headers['retry-after'] !== undefined))
    return Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : 60; // GitHub: wait at least a minute
  if (headers['x-ratelimit-remaining'] === '0') {
    const reset = Number(headers['x-ratelimit-reset']) * 1000;
    return Math.max(Math.ceil((reset - nowMs) / 1000) + 1, 1);
  }
  return undefined;
}

/** GitHub's error as a Temporal failure: rate limits retried after GitHub's delay, client errors final. */
export function githubFailure(err: unknown, what: string): unknown {
  if (err instanceof ApplicationFailure) return err;
  const status = httpStatus(err);
  if (status === undefined) return err;
  const message = `${what}: GitHub answered ${status}: ${(err as Error).message}`;
  const delay = rateLimitDelaySeconds(err);
  if (delay !== undefined)
    return ApplicationFailure.create({
      type: FailureType.GithubRateLimited,
      message: `${message} (retrying in ${delay} s, as GitHub asked)`,
      nextRetryDelay: delay * 1000,
    });
  // 404 may be a write not yet visible, 409 a concurrent change: retried. Others are final.
  const final = status >= 400 && status < 500 && status !== 404 && status !== 409 && status !== 408;
  return ApplicationFailure.create({ type: FailureType.GithubError, message, nonRetryable: final });
}
