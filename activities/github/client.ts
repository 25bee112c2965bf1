/**
 * What every GitHub tool shares: the client for a repository (from the factory the composition root handed in), and
 * GitHub's errors as Temporal failures. A rate limit (secondary: 403/429 with Retry-After; primary: remaining 0 until
 * X-RateLimit-Reset) becomes a retryable failure whose next attempt starts after the delay GitHub asked for, so the
 * worker waits in Temporal, not in a loop. Errors carry GitHub's message only, never the request (its headers hold
 * the token).
 */
import { ApplicationFailure } from '@temporalio/common';
import type { Octokit } from 'octokit';
import { z } from 'zod';
import { FailureType } from '../../src/core/failures';
import { githubFailure, httpStatus, REPO_PATTERN } from '../../src/core/github';

export { githubFailure, httpStatus, rateLimitDelaySeconds } from '../../src/core/github';
import type { ToolContext } from '../tool';

export const repoField = z.string().regex(REPO_PATTERN, 'a GitHub repository: owner/name');
/** A branch name as GitHub's refs take it (no leading refs/heads/, no `..`, no spaces). */
export const branchField = z
  .string()
  .min(1)
  .max(250)
  .regex(/^(?!refs\/)(?!\/)(?!.*\.\.)(?!.*\/$)[A-Za-z0-9._\/-]+$/, 'a branch name (letters, digits, . _ / -)');
export const shaField = z.string().regex(/^[0-9a-f]{40}$/, 'a full 40-hex commit SHA');

export async function githubFor(ctx: ToolContext, repo: string): Promise<Octokit> {
  if (!ctx.deps.github)
    throw ApplicationFailure.create({
      type: FailureType.GithubError,
      nonRetryable: true,
      message: 'GitHub is not configured on this worker (GITHUB_APP_ID or GITHUB_TOKEN)',
    });
  return ctx.deps.github.forRepo(repo);
}

/** Runs one GitHub call, mapping its error (see githubFailure). */
export async function gh<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw githubFailure(err, what);
  }
}

/** Like gh, but a 404 resolves to undefined (looking before acting). */
export async function ghMaybe<T>(what: string, fn: () => Promise<T>): Promise<T | undefined> {
  try {
    return await fn();
  } catch (err) {
    if (httpStatus(err) === 404) return undefined;
    throw githubFailure(err, what);
  }
}

export function headMoved(message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: FailureType.GithubHeadMoved, nonRetryable: true, message });
}
