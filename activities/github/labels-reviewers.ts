import { z } from 'zod';
import { splitRepo } from '../../src/core/github';
import { defineTool } from '../tool';
import { gh, githubFor, repoField } from './client';

export const githubAddLabels = defineTool({
  name: 'github.add_labels',
  description: 'Add labels to an issue or pull request.',
  risk: 'low',
  input: z.strictObject({
    repo: repoField,
    number: z.number().int().positive(),
    labels: z.array(z.string().min(1).max(50)).min(1).max(100),
  }),
  output: z.object({ labels: z.array(z.string()), added: z.array(z.string()) }),
  idempotency: 'Adding a label the issue already has changes nothing; the compensation removes only labels it added.',
  timeouts: { startToCloseMs: 60_000 },
  async execute(input, ctx) {
    const octokit = await githubFor(ctx, input.repo);
    const r = splitRepo(input.repo);
    const { data: before } = await gh('reading labels', () =>
      octokit.rest.issues.listLabelsOnIssue({ ...r, issue_number: input.number, per_page: 100 }),
    );
    const had = new Set(before.map((l) => l.name));
    const added = input.labels.filter((l) => !had.has(l));
    if (!added.length) return { labels: [...had], added };
    const { data } = await gh('adding labels', () =>
      octokit.rest.issues.addLabels({ ...r, issue_number: input.number, labels: added }),
    );
    return { labels: data.map((l) => l.name), added };
  },
  async compensate(input, ctx) {
    const octokit = await githubFor(ctx, input.repo);
    for (const name of ctx.output?.added ?? [])
      await gh(`removing label ${name}`, () =>
        octokit.rest.issues
          .removeLabel({ ...splitRepo(input.repo), issue_number: input.number, name })
          .catch((err) => (err?.status === 404 ? undefined : Promise.reject(err))),
      );
  },
});

export const githubRequestReviewers = defineTool({
  name: 'github.request_reviewers',
  description: 'Ask people (logins) or teams (slugs) to review a pull request.',
  risk: 'low',
  input: z.strictObject({
    repo: repoField,
    number: z.number().int().positive(),
    reviewers: z.array(z.string().min(1)).default([]),
    teamReviewers: z.array(z.string().min(1)).default([]),
  }),
  output: z.object({ requested: z.array(z.string()) }),
  idempotency: 'Requesting a reviewer already requested changes nothing.',
  timeouts: { startToCloseMs: 60_000 },
  async execute(input, ctx) {
    const octokit = await githubFor(ctx, input.repo);
    const { data } = await gh('requesting reviewers', () =>
      octokit.rest.pulls.requestReviewers({
        ...splitRepo(input.repo),
        pull_number: input.number,
        reviewers: input.reviewers,
        team_reviewers: input.teamReviewers,
      }),
    );
    return { requested: (data.requested_reviewers ?? []).map((u) => u.login) };
  },
});
