/**
 * GitHub vocabulary shared by the tools, the approval channel and the composition root: the client factory the
 * composition root hands in (tokens and the App's private key stay inside it), repository names, and the hidden
 * markers that make a retried write find what it already wrote.
 */
import type { Octokit } from 'octokit';

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
