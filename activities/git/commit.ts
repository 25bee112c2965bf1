import { z } from 'zod';
import { defineTool } from '../tool';
import {
  branchField,
  casUpdateRef,
  commitTree,
  findByTrailer,
  git,
  KEY_TRAILER,
  repoField,
  requireAllowedRepo,
  requireBranch,
  requireRepo,
  revertOnBranch,
  withTempIndex,
  withTrailers,
  ZERO_OID,
} from './git';

const repoPath = z
  .string()
  .min(1)
  .regex(/^[^\x00-\x1f\x7f]+$/, 'must not contain control characters')
  .refine((p) => !p.startsWith('/') && !p.split('/').some((s) => s === '..' || s === '' || s === '.git'), {
    message: 'must be a relative path inside the repository (no "..", no ".git")',
  });

export const commitFiles = defineTool({
  name: 'git.commit',
  description: 'Commit files (write or delete) on a branch of a local repository.',
  risk: 'low',
  input: z
    .strictObject({
      repo: repoField,
      branch: branchField,
      message: z.string().min(1).max(10_000),
      files: z.array(z.strictObject({ path: repoPath, content: z.string() })).default([]),
      delete: z.array(repoPath).default([]),
    })
    .refine((i) => i.files.length + i.delete.length > 0, {
      message: 'nothing to commit: give files or delete',
      path: ['files'],
    }),
  output: z.object({ branch: z.string(), sha: z.string(), created: z.boolean() }),
  idempotency: `The commit carries an "${KEY_TRAILER}: <key>" trailer; a retry finds it on the branch and returns it.`,
  timeouts: { startToCloseMs: 60_000 },
  async execute(input, ctx) {
    await requireRepo(input.repo, ctx);
    const ref = `refs/heads/${input.branch}`;
    const done = await findByTrailer(input.repo, ref, KEY_TRAILER, ctx.idempotencyKey);
    if (done) return { branch: input.branch, sha: done, created: false };

    const tip = await requireBranch(input.repo, input.branch);
    const tree = await withTempIndex(async (env) => {
      await git(input.repo, ['read-tree', tip], { env });
      // --index-info needs no work tree (bare repositories); mode 0 removes a path.
      const lines: string[] = [];
      for (const file of input.files) {
        const blob = (await git(input.repo, ['hash-object', '-w', '--stdin'], { input: file.content })).stdout.trim();
        lines.push(`100644 ${blob}\t${file.path}`);
      }
      for (const path of input.delete) lines.push(`0 ${ZERO_OID}\t${path}`);
      await git(input.repo, ['update-index', '--index-info'], { env, input: `${lines.join('\n')}\n` });
      return (await git(input.repo, ['write-tree'], { env })).stdout.trim();
    });
    const sha = await commitTree(
      input.repo,
      tree,
      [tip],
      withTrailers(input.message, { [KEY_TRAILER]: ctx.idempotencyKey }),
    );
    await casUpdateRef(input.repo, ref, sha, tip, `airlock commit ${ctx.idempotencyKey}`);
    return { branch: input.branch, sha, created: true };
  },
  async compensate(input, ctx) {
    requireAllowedRepo(input.repo, ctx);
    const ref = `refs/heads/${input.branch}`;
    const commit = await findByTrailer(input.repo, ref, KEY_TRAILER, ctx.idempotencyKey);
    if (!commit) return; // the step never committed (or the branch is gone): nothing to undo
    await revertOnBranch(input.repo, input.branch, commit, ctx.idempotencyKey);
  },
});
