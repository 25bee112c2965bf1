import { ApplicationFailure } from '@temporalio/common';
import { z } from 'zod';
import { FailureType } from '../../src/core/failures';
import { defineTool } from '../tool';
import {
  branchField,
  casUpdateRef,
  commitTree,
  findByTrailer,
  git,
  KEY_TRAILER,
  mergeTrees,
  repoField,
  requireAllowedRepo,
  requireBranch,
  requireRepo,
  revertOnBranch,
  withTrailers,
} from './git';

export const mergeBranch = defineTool({
  name: 'git.merge',
  description: 'Merge a branch into a target branch with a merge commit (never fast-forward, so it can be reverted).',
  risk: 'medium',
  input: z.strictObject({
    repo: repoField,
    source: branchField,
    target: branchField,
    message: z.string().min(1).max(10_000).optional(),
  }),
  output: z.object({ target: z.string(), sha: z.string(), created: z.boolean(), alreadyMerged: z.boolean() }),
  idempotency: `The merge commit carries an "${KEY_TRAILER}: <key>" trailer; a retry finds it on the target and returns it.`,
  timeouts: { startToCloseMs: 2 * 60_000 },
  async execute(input, ctx) {
    await requireRepo(input.repo, ctx);
    const ref = `refs/heads/${input.target}`;
    const done = await findByTrailer(input.repo, ref, KEY_TRAILER, ctx.idempotencyKey, { firstParent: true });
    if (done) return { target: input.target, sha: done, created: false, alreadyMerged: false };

    const tip = await requireBranch(input.repo, input.target);
    const source = await requireBranch(input.repo, input.source);
    const ancestor = await git(input.repo, ['merge-base', '--is-ancestor', source, tip], { allowFailure: true });
    if (ancestor.code === 0) return { target: input.target, sha: tip, created: false, alreadyMerged: true };

    const merged = await mergeTrees(input.repo, tip, source);
    if ('conflicts' in merged) {
      throw ApplicationFailure.create({
        type: FailureType.GitConflict,
        nonRetryable: true,
        message: `merging ${input.source} into ${input.target} conflicts in: ${merged.conflicts.join(', ')}`,
        details: [{ conflicts: merged.conflicts }],
      });
    }
    const message = withTrailers(input.message ?? `Merge branch '${input.source}' into ${input.target}`, {
      [KEY_TRAILER]: ctx.idempotencyKey,
    });
    const sha = await commitTree(input.repo, merged.tree, [tip, source], message);
    await casUpdateRef(input.repo, ref, sha, tip, `airlock merge ${ctx.idempotencyKey}`);
    return { target: input.target, sha, created: true, alreadyMerged: false };
  },
  async compensate(input, ctx) {
    requireAllowedRepo(input.repo, ctx);
    const ref = `refs/heads/${input.target}`;
    const merge = await findByTrailer(input.repo, ref, KEY_TRAILER, ctx.idempotencyKey, { firstParent: true });
    if (!merge) return;
    // A revert commit, not a reset: the target is shared, and others may already have its history.
    await revertOnBranch(input.repo, input.target, merge, ctx.idempotencyKey);
  },
});
