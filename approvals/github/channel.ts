/**
 * The GitHub side of an approval request on a job whose context names a repository and pull request (context.repo
 * `owner/name`, context.pr), or whose action is a github.* action on one: one comment per round, found again by a
 * hidden marker (a retried activity edits it instead of posting twice) and updated in place on every vote and at
 * the outcome; and an `airlock/approval` check run on the pull request's head, completed with `action_required`
 * and Approve/Reject buttons while open, then success, failure, timed_out or cancelled.
 */
import type { ApprovalRequest } from '../../src/core/approval';
import { githubFailure, pullRequestOf, splitRepo, type GithubClients } from '../../src/core/github';
import type { ApprovalChannel } from '../channel';
import { CHECK_NAME, checkRun, commentBody, roundMarker, roundOf } from './render';
import type { GithubRounds } from './rounds';

export interface GithubChannelOptions {
  github: GithubClients;
  rounds: GithubRounds;
  log?: (msg: string) => void;
}

export class GithubChannel implements ApprovalChannel {
  readonly name = 'github';

  constructor(private readonly opts: GithubChannelOptions) {}

  async announce(request: ApprovalRequest): Promise<void> {
    await this.show(request);
  }

  async update(request: ApprovalRequest): Promise<void> {
    await this.show(request);
  }

  /** GitHub's rate limits retry the channel activity after GitHub's delay, as they do the tools. */
  private async show(request: ApprovalRequest): Promise<void> {
    try {
      await this.render(request);
    } catch (err) {
      throw githubFailure(err, `showing approval ${request.id} on GitHub`);
    }
  }

  private async render(request: ApprovalRequest): Promise<void> {
    const where = pullRequestOf(request.context, request.action, request.input);
    if (!where) {
      (this.opts.log ?? console.warn)(
        `approval ${request.id}: the github channel needs context.repo and context.pr (or a github.* action on a pull request)`,
      );
      return;
    }
    const octokit = await this.opts.github.forRepo(where.repo);
    const r = splitRepo(where.repo);
    const round = roundOf(request);
    const known = await this.opts.rounds.get(round);
    // Saved before GitHub is written, so a vote arriving right after the comment finds its round.
    await this.opts.rounds.save({
      round,
      requestId: request.id,
      repo: where.repo,
      pr: where.pr,
      digest: known?.digest ?? request.inputDigest,
      status: request.status,
      ...(request.headSha ? { headSha: request.headSha } : {}),
    });

    const body = commentBody(request, round);
    let commentId = known?.commentId;
    if (!commentId) {
      const comments = await octokit.paginate(octokit.rest.issues.listComments, {
        ...r,
        issue_number: where.pr,
        per_page: 100,
      });
      commentId = comments.find((c) => (c.body ?? '').includes(roundMarker(round)))?.id;
    }
    if (commentId) await octokit.rest.issues.updateComment({ ...r, comment_id: commentId, body });
    else commentId = (await octokit.rest.issues.createComment({ ...r, issue_number: where.pr, body })).data.id;
    await this.opts.rounds.save({
      round,
      requestId: request.id,
      repo: where.repo,
      pr: where.pr,
      digest: request.inputDigest,
      status: request.status,
      commentId,
    });

    // The check run sits on the head the round approves (github-head-binding), else the head it was first shown on;
    // found again by its external id.
    const headSha =
      known?.headSha ??
      request.headSha ??
      (await octokit.rest.pulls.get({ ...r, pull_number: where.pr })).data.head.sha;
    let checkRunId = known?.checkRunId;
    if (!checkRunId) {
      const { data } = await octokit.rest.checks.listForRef({
        ...r,
        ref: headSha,
        check_name: CHECK_NAME,
        per_page: 100,
      });
      checkRunId = data.check_runs.find((c) => c.external_id === round)?.id;
    }
    const fields = checkRun(request, round);
    if (checkRunId) await octokit.rest.checks.update({ ...r, check_run_id: checkRunId, ...fields });
    else checkRunId = (await octokit.rest.checks.create({ ...r, head_sha: headSha, ...fields })).data.id;
    await this.opts.rounds.save({
      round,
      requestId: request.id,
      repo: where.repo,
      pr: where.pr,
      digest: request.inputDigest,
      status: request.status,
      commentId,
      checkRunId,
      headSha,
    });
  }
}
