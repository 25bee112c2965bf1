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
import { REPO_PATTERN } from '../../src/core/github';
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
