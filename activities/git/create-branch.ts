import { z } from 'zod';
import { defineTool } from '../tool';
import { branchField, git, repoField, requireAllowedRepo, requireRepo, revParse, ZERO_OID } from './git';
import { ApplicationFailure } from '@temporalio/common';
import { FailureType } from '../../src/core/failures';

const reflogReason = (key: string) => `airlock create_branch ${key}`;

/** Whether the branch's reflog shows it was created by this step (and not by someone else before the job). */
async function createdBy(repo: string, branch: string, key: string): Promise<boolean> {
  const r = await git(repo, ['reflog', 'show', '--format=%gs', `refs/heads/${branch}`, '--'], { allowFailure: true });
  return r.code === 0 && r.stdout.split('\n').includes(reflogReason(key));
}

export const createBranch = defineTool({
  name: 'git.create_branch',
  description: 'Create a branch in a local repository from a revision.',
  risk: 'low',
  input: z.strictObject({
    repo: repoField,
    branch: branchField,
    from: z.string().min(1).default('HEAD'),
  }),
  output: z.object({ branch: z.string(), sha: z.string(), created: z.boolean() }),
  idempotency:
    'The branch is created with a reflog entry naming the key; a branch that already exists is returned, ' +
    'and only a branch this step created is deleted by the compensation.',
  timeouts: { startToCloseMs: 60_000 },
  async execute(input, ctx) {
    await requireRepo(input.repo, ctx);
    const ref = `refs/heads/${input.branch}`;
    const existing = await revParse(input.repo, ref);
    if (existing) {
      return {
        branch: input.branch,
        sha: existing,
        created: await createdBy(input.repo, input.branch, ctx.idempotencyKey),
      };
    }
    const sha = await revParse(input.repo, input.from);
    if (!sha) {
      throw ApplicationFailure.create({
        type: FailureType.GitError,
        nonRetryable: true,
        message: `revision "${input.from}" does not exist in ${input.repo}`,
      });
    }
    // Old value = zero id: the update fails if someone created the branch in the meantime (then we retry and return it).
    await git(input.repo, [
      'update-ref',
      '--create-reflog',
      '-m',
      reflogReason(ctx.idempotencyKey),
      ref,
      sha,
      ZERO_OID,
    ]);
    return { branch: input.branch, sha, created: true };
  },
  async compensate(input, ctx) {
    requireAllowedRepo(input.repo, ctx);
    if (!(await createdBy(input.repo, input.branch, ctx.idempotencyKey))) {
      ctx.log.info('branch not created by this step; nothing to undo', { branch: input.branch });
      return;
    }
    const tip = await revParse(input.repo, `refs/heads/${input.branch}`);
    if (tip) await git(input.repo, ['update-ref', '-d', `refs/heads/${input.branch}`, tip]);
  },
});
