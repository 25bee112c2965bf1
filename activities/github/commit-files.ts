import { z } from 'zod';
import { GITHUB_KEY_TRAILER, hasKeyTrailer, splitRepo } from '../../src/core/github';
import type { Octokit } from 'octokit';
import { defineTool } from '../tool';
import { branchField, gh, githubFailure, githubFor, headMoved, httpStatus, repoField } from './client';
import { branchSha } from './refs';

/** How far back from the branch head a retry looks for its own commit (others may have pushed on top). */
const LOOK_BACK = 50;

const fileChange = z.union([
  z.strictObject({ path: z.string().min(1).max(4096), content: z.string().max(10_000_000) }),
  z.strictObject({ path: z.string().min(1).max(4096), delete: z.literal(true) }),
]);

/** The commit carrying `key`'s trailer among the last LOOK_BACK first-parent commits of `head`. */
async function findOwnCommit(octokit: Octokit, repo: string, head: string, key: string) {
  let sha: string | undefined = head;
  for (let i = 0; sha && i < LOOK_BACK; i++) {
    const current: string = sha;
    const { data } = await gh('reading a commit', () =>
      octokit.rest.git.getCommit({ ...splitRepo(repo), commit_sha: current }),
    );
    if (hasKeyTrailer(data.message, key)) return { sha: data.sha, parent: data.parents[0]?.sha };
    sha = data.parents[0]?.sha;
  }
  return undefined;
}

export const githubCommitFiles = defineTool({
  name: 'github.commit_files',
  description:
    'Commit file changes to a branch of a GitHub repository through the Git Data API (blobs, tree, commit, ref).',
  risk: 'medium',
  input: z.strictObject({
    repo: repoField,
    branch: branchField,
    message: z.string().min(1).max(10_000),
    files: z.array(fileChange).min(1).max(1000),
  }),
  output: z.object({ sha: z.string(), parent: z.string(), created: z.boolean() }),
  idempotency: `The commit carries an "${GITHUB_KEY_TRAILER}: <key>" trailer; a retry finds it on the branch and returns it.`,
  timeouts: { startToCloseMs: 5 * 60_000, heartbeatMs: 60_000 },
  async execute(input, ctx) {
    const octokit = await githubFor(ctx, input.repo);
    const r = splitRepo(input.repo);
    const head = await branchSha(octokit, input.repo, input.branch);
    if (!head) throw githubFailure({ status: 422, message: `branch ${input.branch} does not exist` }, 'committing');
    const mine = await findOwnCommit(octokit, input.repo, head, ctx.idempotencyKey);
    if (mine) return { sha: mine.sha, parent: mine.parent ?? '', created: false };

    const { data: parent } = await gh('reading the branch head', () =>
      octokit.rest.git.getCommit({ ...r, commit_sha: head }),
    );
    const tree: { path: string; mode: '100644'; type: 'blob'; sha: string | null }[] = [];
    for (const f of input.files) {
      if ('delete' in f) {
        tree.push({ path: f.path, mode: '100644', type: 'blob', sha: null });
        continue;
      }
      const { data: blob } = await gh(`uploading ${f.path}`, () =>
        octokit.rest.git.createBlob({ ...r, content: Buffer.from(f.content).toString('base64'), encoding: 'base64' }),
      );
      ctx.heartbeat();
      tree.push({ path: f.path, mode: '100644', type: 'blob', sha: blob.sha });
    }
    const { data: newTree } = await gh('writing the tree', () =>
      octokit.rest.git.createTree({ ...r, base_tree: parent.tree.sha, tree }),
    );
    const message = `${input.message.trimEnd()}\n\n${GITHUB_KEY_TRAILER}: ${ctx.idempotencyKey}\n`;
    const { data: commit } = await gh('writing the commit', () =>
      octokit.rest.git.createCommit({ ...r, message, tree: newTree.sha, parents: [head] }),
    );
    // Fast-forward only: if someone pushed in between, GitHub refuses (422) and the retry starts from the new head.
    try {
      await octokit.rest.git.updateRef({ ...r, ref: `heads/${input.branch}`, sha: commit.sha, force: false });
    } catch (err) {
      if (httpStatus(err) === 422)
        throw githubFailure({ status: 409, message: (err as Error).message }, 'moving the branch');
      throw githubFailure(err, 'moving the branch');
    }
    return { sha: commit.sha, parent: head, created: true };
  },
  async compensate(input, ctx) {
    const octokit = await githubFor(ctx, input.repo);
    const head = await branchSha(octokit, input.repo, input.branch);
    if (!head) return; // the branch is gone: nothing of ours left on it
    const mine = ctx.output?.created
      ? { sha: ctx.output.sha, parent: ctx.output.parent }
      : await findOwnCommit(octokit, input.repo, head, ctx.idempotencyKey);
    if (!mine || !mine.parent) return;
    if (head !== mine.sha) {
      // Someone built on our commit: moving the ref back would drop their work.
      const stillThere = await findOwnCommit(octokit, input.repo, head, ctx.idempotencyKey);
      if (!stillThere) return;
      throw headMoved(
        `cannot undo commit ${mine.sha} on ${input.repo}@${input.branch}: the branch head is now ${head}, not Airlock's commit`,
      );
    }
    await gh('moving the branch back', () =>
      octokit.rest.git.updateRef({
        ...splitRepo(input.repo),
        ref: `heads/${input.branch}`,
        sha: mine.parent!,
        force: true,
      }),
    );
  },
});
