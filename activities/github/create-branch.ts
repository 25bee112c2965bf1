import { ApplicationFailure } from '@temporalio/common';
import { z } from 'zod';
import { FailureType } from '../../src/core/failures';
import { splitRepo } from '../../src/core/github';
import { defineTool } from '../tool';
import { branchField, gh, githubFailure, githubFor, httpStatus, repoField, shaField } from './client';
import { branchSha } from './refs';

export const githubCreateBranch = defineTool({
  name: 'github.create_branch',
  description: 'Create a branch in a GitHub repository from a branch or commit (default: the default branch).',
  risk: 'low',
  input: z.strictObject({
    repo: repoField,
    branch: branchField,
    from: z.union([shaField, branchField]).optional(),
  }),
  output: z.object({ branch: z.string(), sha: z.string(), created: z.boolean() }),
  idempotency:
    'Looks before it acts: an existing branch is returned, counted as created only on a retry that finds it at the ' +
    'commit it was to be created from; the compensation deletes it only while it still points at that commit.',
  timeouts: { startToCloseMs: 60_000 },
  async execute(input, ctx) {
    const octokit = await githubFor(ctx, input.repo);
    const from =
      input.from ??
      (await gh('reading the repository', () => octokit.rest.repos.get(splitRepo(input.repo)))).data.default_branch;
    const fromSha = /^[0-9a-f]{40}$/.test(from) ? from : await branchSha(octokit, input.repo, from);
    if (!fromSha)
      throw ApplicationFailure.create({
        type: FailureType.GithubError,
        nonRetryable: true,
        message: `input.from: branch "${from}" does not exist in ${input.repo}`,
      });
    const existing = await branchSha(octokit, input.repo, input.branch);
    // A retry that finds the branch at the commit it was to be made from is finding its own earlier attempt.
    if (existing) return { branch: input.branch, sha: existing, created: ctx.attempt > 1 && existing === fromSha };
    try {
      await octokit.rest.git.createRef({ ...splitRepo(input.repo), ref: `refs/heads/${input.branch}`, sha: fromSha });
    } catch (err) {
      // Someone created it between our look and our write: theirs, not ours.
      const now = httpStatus(err) === 422 ? await branchSha(octokit, input.repo, input.branch) : undefined;
      if (now) return { branch: input.branch, sha: now, created: false };
      throw githubFailure(err, `creating branch ${input.branch}`);
    }
    return { branch: input.branch, sha: fromSha, created: true };
  },
  async compensate(input, ctx) {
    if (!ctx.output?.created) {
      ctx.log.info('branch not created by this step (or no output): nothing to undo', { branch: input.branch });
      return;
    }
    const octokit = await githubFor(ctx, input.repo);
    const tip = await branchSha(octokit, input.repo, input.branch);
    if (!tip) return;
    if (tip !== ctx.output.sha)
      throw ApplicationFailure.create({
        type: FailureType.GithubHeadMoved,
        nonRetryable: true,
        message: `branch ${input.branch} of ${input.repo} now points at ${tip}, not ${ctx.output.sha} where Airlock created it; not deleting someone else's work`,
      });
    await gh(`deleting branch ${input.branch}`, () =>
      octokit.rest.git.deleteRef({ ...splitRepo(input.repo), ref: `heads/${input.branch}` }),
    );
  },
});
