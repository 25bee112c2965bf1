import { z } from 'zod';
import { marker, splitRepo } from '../../src/core/github';
import { defineTool } from '../tool';
import { gh, githubFor, repoField } from './client';

export const githubComment = defineTool({
  name: 'github.comment',
  description: 'Comment on an issue or pull request.',
  risk: 'low',
  input: z.strictObject({
    repo: repoField,
    number: z.number().int().positive(),
    body: z.string().min(1).max(60_000),
  }),
  output: z.object({ id: z.number(), url: z.string(), created: z.boolean() }),
  idempotency:
    'The comment carries a hidden marker with the key; a retry finds it and edits it instead of posting again.',
  timeouts: { startToCloseMs: 60_000 },
  async execute(input, ctx) {
    const octokit = await githubFor(ctx, input.repo);
    const r = splitRepo(input.repo);
    const mark = marker('comment', ctx.idempotencyKey);
    const body = `${input.body}\n\n${mark}`;
    const comments = await gh('listing comments', () =>
      octokit.paginate(octokit.rest.issues.listComments, { ...r, issue_number: input.number, per_page: 100 }),
    );
    const mine = comments.find((c) => (c.body ?? '').includes(mark));
    if (mine) {
      if (mine.body !== body)
        await gh('editing the comment', () => octokit.rest.issues.updateComment({ ...r, comment_id: mine.id, body }));
      return { id: mine.id, url: mine.html_url, created: false };
    }
    const { data } = await gh('commenting', () =>
      octokit.rest.issues.createComment({ ...r, issue_number: input.number, body }),
    );
    return { id: data.id, url: data.html_url, created: true };
  },
});
