import { createHash } from 'node:crypto';
import { z } from 'zod';
import { defineTool } from '../tool';
import { branchField, git, repoField, requireAllowedRepo, requireRepo, revParse } from './git';

/** Where a deleted branch's tip is kept so the compensation can restore it. */
const backupRef = (key: string) =>
  `refs/airlock/deleted/${createHash('sha256').update(key).digest('hex').slice(0, 32)}`;

export const deleteBranch = defineTool({
  name: 'git.delete_branch',
  description: 'Delete a branch of a local repository (its tip is kept under refs/airlock/deleted/ for the undo).',
  risk: 'medium',
  input: z.strictObject({ repo: repoField, branch: branchField }),
  output: z.object({ branch: z.string(), sha: z.string().nullable(), deleted: z.boolean() }),
  idempotency:
    'The backup ref named after the key and the deletion are one ref transaction; a retry that finds the backup returns it.',
  timeouts: { startToCloseMs: 60_000 },
  async execute(input, ctx) {
    await requireRepo(input.repo, ctx);
    const ref = `refs/heads/${input.branch}`;
    const backup = backupRef(ctx.idempotencyKey);
    const saved = await revParse(input.repo, backup);
    const tip = await revParse(input.repo, ref);
    if (!tip) return { branch: input.branch, sha: saved ?? null, deleted: saved !== undefined };
    // One transaction: either the branch is gone and its tip saved, or nothing happened.
    await git(input.repo, ['update-ref', '--stdin'], {
      input: `start\nupdate ${backup} ${tip}\ndelete ${ref} ${tip}\ncommit\n`,
    });
    return { branch: input.branch, sha: tip, deleted: true };
  },
  async compensate(input, ctx) {
    requireAllowedRepo(input.repo, ctx);
    const backup = backupRef(ctx.idempotencyKey);
    const saved = await revParse(input.repo, backup);
    if (!saved) return;
    const ref = `refs/heads/${input.branch}`;
    const current = await revParse(input.repo, ref);
    const restore = current ? '' : `create ${ref} ${saved}\n`;
    await git(input.repo, ['update-ref', '--stdin'], { input: `start\n${restore}delete ${backup} ${saved}\ncommit\n` });
  },
});
