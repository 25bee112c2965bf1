/** Branch lookups through the Git Data API. */
import type { Octokit } from 'octokit';
import { splitRepo } from '../../src/core/github';
import { ghMaybe } from './client';

/** The commit a branch points at, or undefined when there is no such branch. */
export async function branchSha(octokit: Octokit, repo: string, branch: string): Promise<string | undefined> {
  const res = await ghMaybe(`reading branch ${branch} of ${repo}`, () =>
    octokit.rest.git.getRef({ ...splitRepo(repo), ref: `heads/${branch}` }),
  );
  return res?.data.object.sha;
}
