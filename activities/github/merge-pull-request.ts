import { ApplicationFailure } from '@temporalio/common';
import { z } from 'zod';
import { FailureType } from '../../src/core/failures';
import { splitRepo } from '../../src/core/github';
import { defineTool } from '../tool';
import { gh, githubFor, headMoved, httpStatus, githubFailure, repoField, shaField } from './client';

export const githubMergePullRequest = defineTool({
  name: 'github.merge_pull_request',
  description:
    'Merge a pull request exactly at the head commit given (and approved); a head that moved since is refused.',
  risk: 'high',
  input: z.strictObject({
    repo: repoField,
    number: z.number().int().positive(),
    /** The head commit that was reviewed and approved; GitHub refuses the merge if the head is another. */
    sha: shaField,
    method: z.enum(['merge', 'squash', 'rebase']).default('merge'),
    title: z.string().min(1).max(256).optional(),
  }),
  output: z.object({ merged: z.boolean(), sha: z.string(), alreadyMerged: z.boolean() }),
  idempotency:
    'Looks first: a pull request already merged at the approved head is returned; the merge passes `sha`, so ' +
    'GitHub merges only that head.',
  timeouts: { startToCloseMs: 2 * 60_000 },
  async execute(input, ctx) {
    const octokit = await githubFor(ctx, input.repo);
    const r = splitRepo(input.repo);
    const { data: pr } = await gh('reading the pull request', () =>
      octokit.rest.pulls.get({ ...r, pull_number: input.number }),
    );
    if (pr.merged) {
      if (pr.head.sha !== input.sha)
        throw headMoved(`pull request #${input.number} was merged at ${pr.head.sha}, not the approved ${input.sha}`);
      return { merged: true, sha: pr.merge_commit_sha ?? '', alreadyMerged: true };
    }
    if (pr.state !== 'open')
      throw ApplicationFailure.create({
        type: FailureType.GithubError,
        nonRetryable: true,
        message: `pull request #${input.number} of ${input.repo} is closed`,
      });
    if (pr.head.sha !== input.sha)
      throw headMoved(
        `pull request #${input.number} head is now ${pr.head.sha}, not the approved ${input.sha}: not merging unreviewed commits`,
      );
    try {
      const { data } = await octokit.rest.pulls.merge({
        ...r,
        pull_number: input.number,
        sha: input.sha,
        merge_method: input.method,
        ...(input.title ? { commit_title: input.title } : {}),
        commit_message: `Airlock job ${ctx.jobId}, step ${ctx.stepId}`,
      });
      return { merged: data.merged, sha: data.sha, alreadyMerged: false };
    } catch (err) {
      // 409: "Head branch was modified" between our look and the merge.
      if (httpStatus(err) === 409) throw headMoved(`pull request #${input.number}: ${(err as Error).message}`);
      if (httpStatus(err) === 405)
        throw ApplicationFailure.create({
          type: FailureType.GithubError,
          nonRetryable: true,
          message: `pull request #${input.number} cannot be merged: ${(err as Error).message}`,
        });
      throw githubFailure(err, 'merging');
    }
  },
});
