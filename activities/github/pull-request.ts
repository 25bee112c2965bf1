import { z } from 'zod';
import { marker, splitRepo } from '../../src/core/github';
import type { Octokit } from 'octokit';
import { defineTool } from '../tool';
import { branchField, gh, githubFailure, githubFor, httpStatus, repoField } from './client';

const stepMarker = (key: string) => marker('step', key);

async function openPullFor(octokit: Octokit, repo: string, head: string, base: string) {
  const { owner } = splitRepo(repo);
  const { data } = await gh('listing pull requests', () =>
    octokit.rest.pulls.list({ ...splitRepo(repo), head: `${owner}:${head}`, base, state: 'open', per_page: 10 }),
  );
  return data[0];
}

export const githubCreatePullRequest = defineTool({
  name: 'github.create_pull_request',
  description: 'Open a pull request from a branch (an open one for the same head and base is returned instead).',
  risk: 'low',
  input: z.strictObject({
    repo: repoField,
    head: branchField,
    base: branchField,
    title: z.string().min(1).max(256),
    body: z.string().max(60_000).default(''),
    draft: z.boolean().default(false),
  }),
  output: z.object({ number: z.number(), url: z.string(), headSha: z.string(), created: z.boolean() }),
  idempotency:
    'An open pull request for the same head and base is returned, never duplicated; the body carries a hidden ' +
    'marker with the key, and the compensation closes only a pull request with that marker.',
  timeouts: { startToCloseMs: 60_000 },
  async execute(input, ctx) {
    const octokit = await githubFor(ctx, input.repo);
    const mark = stepMarker(ctx.idempotencyKey);
    const result = (p: { number: number; html_url: string; head: { sha: string }; body?: string | null }) => ({
      number: p.number,
      url: p.html_url,
      headSha: p.head.sha,
      created: (p.body ?? '').includes(mark),
    });
    const existing = await openPullFor(octokit, input.repo, input.head, input.base);
    if (existing) return result(existing);
    try {
      const { data } = await octokit.rest.pulls.create({
        ...splitRepo(input.repo),
        head: input.head,
        base: input.base,
        title: input.title,
        body: `${input.body}\n\n${mark}`.trimStart(),
        draft: input.draft,
      });
      return result(data);
    } catch (err) {
      // "A pull request already exists": someone (or our lost earlier attempt) opened it meanwhile.
      const now = httpStatus(err) === 422 ? await openPullFor(octokit, input.repo, input.head, input.base) : undefined;
      if (now) return result(now);
      throw githubFailure(err, 'opening the pull request');
    }
  },
  async compensate(input, ctx) {
    const octokit = await githubFor(ctx, input.repo);
    const number = ctx.output?.number ?? (await openPullFor(octokit, input.repo, input.head, input.base))?.number;
    if (!number) return;
    const { data: pr } = await gh('reading the pull request', () =>
      octokit.rest.pulls.get({ ...splitRepo(input.repo), pull_number: number }),
    );
    if (pr.state !== 'open' || !(pr.body ?? '').includes(stepMarker(ctx.idempotencyKey))) return;
    await gh('closing the pull request', () =>
      octokit.rest.pulls.update({ ...splitRepo(input.repo), pull_number: number, state: 'closed' }),
    );
  },
});
