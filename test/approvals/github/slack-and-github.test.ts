/**
 * A merge that needs one approval on Slack and one on GitHub (two distinct SREs), end to end on the real Temporal
 * server with the Slack and GitHub stand-ins; and binding to code: a push to the pull request while the request is
 * open supersedes the round (its votes were for the old head) and asks again for the new head.
 */
import { randomUUID } from 'node:crypto';
import type { WorkflowHandle } from '@temporalio/client';
import { builtinRegistry } from '../../../activities';
import { slackSignature } from '../../../approvals/slack/verify';
import { submitJob } from '../../../src/jobs/submit';
import type { ApprovalRequest } from '../../../src/core/approval';
import { jobStateQuery } from '../../../workflows/messages';
import { pendingRequest, waitForState } from '../../helpers/approvals';
import { attestationKeys } from '../../helpers/attestation';
import { startGithubServer, type GithubServer } from '../../helpers/github-server';
import { startSlackServer } from '../../helpers/slack-server';
import { fixture, testAirlock, testWorker, uniqueId, useTemporalServer } from '../../helpers/temporal';
import { eventually } from '../../helpers/wait';
import { historyJobId, saveHistory } from '../../../scripts/histories';

const temporal = useTemporalServer();
const TOKEN = `ghp_${randomUUID().replace(/-/g, '')}`;
const GITHUB_SECRET = 'github-webhook-secret-for-tests';
const SLACK_SECRET = 'slack-signing-secret-for-tests';
let gh: GithubServer;
let slack: Awaited<ReturnType<typeof startSlackServer>>;
let base: string;
let closeApi: () => Promise<unknown>;

const config = () => ({
  GITHUB_TOKEN: TOKEN,
  GITHUB_WEBHOOK_SECRET: GITHUB_SECRET,
  AIRLOCK_GITHUB_API_URL: gh.url,
  AIRLOCK_GITHUB_WRITE_INTERVAL_MS: '0',
  SLACK_BOT_TOKEN: 'xoxb-test',
  SLACK_SIGNING_SECRET: SLACK_SECRET,
  SLACK_API_URL: slack.url,
  SLACK_APPROVAL_CHANNEL: 'C0DEFAULT',
});

beforeAll(async () => {
  gh = await startGithubServer({ token: TOKEN });
  slack = await startSlackServer();
  const app = await (await testAirlock(temporal.env, { config: config() })).api();
  base = await app.listen({ host: '127.0.0.1', port: 0 });
  gh.webhookUrl = `${base}/github/webhooks`;
  gh.webhookSecret = GITHUB_SECRET;
  closeApi = () => app.close();
});
afterAll(async () => {
  await closeApi?.();
  await gh?.close();
  await slack?.close();
});

const REPO = 'acme/app';

function shipJob(branch: string) {
  return {
    agent: 'release-bot',
    title: `Ship ${branch}`,
    steps: [
      { id: 'branch', action: 'github.create_branch', input: { repo: REPO, branch } },
      {
        id: 'commit',
        action: 'github.commit_files',
        input: {
          repo: REPO,
          branch: { $ref: 'steps.branch.output.branch' },
          message: 'Bump version',
          files: [{ path: 'VERSION', content: `${branch}\n` }],
        },
      },
      {
        id: 'pr',
        action: 'github.create_pull_request',
        input: { repo: REPO, head: branch, base: 'main', title: `Bump (${branch})` },
      },
      {
        id: 'merge',
        action: 'github.merge_pull_request',
        input: { repo: REPO, number: { $ref: 'steps.pr.output.number' }, sha: { $ref: 'steps.commit.output.sha' } },
      },
    ],
  };
}

async function submit(branch: string, taskQueue: string, jobId = uniqueId('job')): Promise<WorkflowHandle> {
  const { handle } = await submitJob(temporal.env.client, shipJob(branch) as never, {
    registry: builtinRegistry(),
    taskQueue,
    requester: 'dave',
    attestationKeys,
    jobId,
  });
  return handle;
}

/** A Slack button click, form-encoded and signed as Slack signs it. */
async function slackClick(user: string, value: string) {
  const payload = {
    type: 'block_actions',
    user: { id: user },
    team: { id: 'T0TEAM' },
    api_app_id: 'A0AIRLOCK',
    channel: { id: 'C0APPROVALS' },
    trigger_id: `trigger-${randomUUID()}`,
    actions: [{ type: 'button', action_id: 'airlock_approve', block_id: 'airlock_decision', value, action_ts: '1' }],
  };
  const body = `payload=${encodeURIComponent(JSON.stringify(payload))}`;
  const ts = String(Math.floor(Date.now() / 1000));
  const res = await fetch(`${base}/slack/events`, {
    method: 'POST',
    body,
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'x-slack-request-timestamp': ts,
      'x-slack-signature': slackSignature(SLACK_SECRET, ts, body),
    },
  });
  return res.status;
}

/** The Approve button's value of the Slack message posted for this round of the request. */
async function slackButton(request: ApprovalRequest): Promise<string> {
  return eventually(() => {
    for (const m of slack.of('chat.postMessage')) {
      const actions = (m.args.blocks as { type: string; elements?: { value: string }[] }[]).find(
        (b) => b.type === 'actions',
      );
      const value = actions?.elements?.[0].value;
      if (value && JSON.parse(value).digest === request.inputDigest && JSON.parse(value).requestId === request.id)
        return value;
    }
    return undefined;
  }, `the Slack message of ${request.id}`);
}

const worker = () => testWorker(temporal.env, { policy: fixture('policy-github-slack.yaml'), config: config() });
const markerOf = (requestId: string) => `<!-- airlock:approval:${requestId}@`;
const roundComments = (pr: number, requestId: string) =>
  gh.commentsOn(pr).filter((c) => c.body.includes(markerOf(requestId)));
const checkRunsFor = (requestId: string) =>
  [...gh.checkRuns.values()].filter((r) => r.name === 'airlock/approval' && r.external_id?.startsWith(`${requestId}@`));
const mergesOf = (pr: number) => gh.calls.filter((c) => c.method === 'PUT' && c.path.endsWith(`/pulls/${pr}/merge`));

test('a merge needing one Slack and one GitHub approval (quorum 2): merged exactly once at the approved head', async () => {
  const { worker: w, taskQueue } = await worker();
  await w.runUntil(async () => {
    const handle = await submit('airlock/both-1', taskQueue);
    const request = await pendingRequest(handle);
    const pr = Number((request.input as { number: number }).number);
    const sha = String((request.input as { sha: string }).sha);
    expect(request.channels).toEqual(['slack:C0APPROVALS', 'github']);
    expect(request.headSha).toBe(sha);

    // alice approves on GitHub: 1 of 2, still waiting.
    await eventually(() => checkRunsFor(request.id).length === 1, 'the check run');
    expect((await gh.review(pr, 'alice-gh', 'approved', 'lgtm')).status).toBe(202);
    await waitForState(handle, (s) => s.approvals[0].votes.length === 1);
    expect((await handle.query(jobStateQuery)).approvals[0].status).toBe('pending');
    expect(mergesOf(pr)).toHaveLength(0);

    // bob approves in Slack: quorum, merged.
    expect(await slackClick('U0BOB0001', await slackButton(request))).toBe(200);
    const done = await waitForState(handle, (s) => s.status === 'succeeded');
    expect(done.approvals[0].votes.map((v) => [v.approver, v.channel])).toEqual([
      ['alice', 'github'],
      ['bob', 'slack'],
    ]);
    expect(mergesOf(pr)).toHaveLength(1);
    expect(mergesOf(pr)[0].body.sha).toBe(sha);
    expect(gh.pulls.get(pr)).toMatchObject({ merged: true });
    expect(gh.commits.get(gh.pulls.get(pr)!.merge_commit_sha!)!.parents[1]).toBe(sha);
    expect(roundComments(pr, request.id)).toHaveLength(1);
    expect(slack.of('chat.postMessage').filter((m) => JSON.stringify(m.args).includes(request.id))).toHaveLength(1);
    await eventually(() => checkRunsFor(request.id)[0]?.conclusion === 'success', 'the check run to succeed');
  });
});

test('a push to the PR after one approval: that approval stops counting, the new head is asked again and needs its own', async () => {
  const { worker: w, taskQueue } = await worker();
  await w.runUntil(async () => {
    // Under the id the replay test expects: RECORD_HISTORIES=1 keeps this run as test/histories/github-head-moved.*.
    const handle = await submit('airlock/both-2', taskQueue, historyJobId('github-head-moved'));
    const first = await pendingRequest(handle);
    const pr = Number((first.input as { number: number }).number);
    const oldHead = String((first.input as { sha: string }).sha);
    await eventually(() => checkRunsFor(first.id).length === 1, 'the first check run');

    expect((await gh.review(pr, 'alice-gh', 'approved', 'lgtm')).status).toBe(202);
    await waitForState(handle, (s) => s.approvals[0].votes.length === 1);

    // Someone pushes to the PR: the round is superseded, and asked again for the new head.
    expect((await gh.push(pr, 'mallory', { 'EXTRA.md': 'unreviewed\n' })).status).toBe(202);
    const newHead = gh.headSha(pr);
    expect(newHead).not.toBe(oldHead);
    const second = await eventually(async () => {
      const r = (await handle.query(jobStateQuery)).approvals[0];
      return r.status === 'pending' && r.requestedAt !== first.requestedAt && r;
    }, 'the request asked again');
    expect(second).toMatchObject({ id: first.id, headSha: newHead, votes: [] });
    expect((second.input as { sha: string }).sha).toBe(newHead);
    expect(second.inputDigest).not.toBe(first.inputDigest);

    // Announced again: the old round's comment and check run say superseded; a new comment and a check run on the
    // new head.
    await eventually(() => roundComments(pr, first.id).length === 2, 'a second comment');
    await eventually(
      () => roundComments(pr, first.id)[0].body.includes('Superseded'),
      'the first comment to say superseded',
    );
    const runs = await eventually(() => {
      const r = checkRunsFor(first.id);
      return r.length === 2 && r[0].conclusion === 'cancelled' && r;
    }, 'the first check run cancelled and a second one');
    expect(runs.map((r) => r.head_sha)).toEqual([oldHead, newHead]);
    expect(runs[1].conclusion).toBe('action_required');

    // bob approves in Slack: only 1 of 2 now, alice's approval of the old head does not count.
    expect(await slackClick('U0BOB0001', await slackButton(second))).toBe(200);
    await waitForState(handle, (s) => s.approvals[0].votes.length === 1);
    const afterBob = await handle.query(jobStateQuery);
    expect(afterBob.approvals[0].status).toBe('pending');
    expect(afterBob.status).toBe('awaiting_approval');
    expect(mergesOf(pr)).toHaveLength(0);

    // alice approves the new head: merged once, at the new head.
    expect((await gh.comment(pr, 'alice-gh', '/airlock approve new head ok')).status).toBe(202);
    const done = await waitForState(handle, (s) => s.status === 'succeeded');
    expect(done.approvals[0].votes.map((v) => v.approver)).toEqual(['bob', 'alice']);
    expect(mergesOf(pr)).toHaveLength(1);
    expect(mergesOf(pr)[0].body.sha).toBe(newHead);
    expect(gh.files(gh.refs.get('heads/main')!)['EXTRA.md']).toBe('unreviewed\n');
    const outputs = done.steps.find((s) => s.id === 'merge')!.output as { sha: string };
    expect(outputs.sha).toBe(gh.pulls.get(pr)!.merge_commit_sha);
    if (process.env.RECORD_HISTORIES) await saveHistory(handle, 'github-head-moved', 'github-head-binding');
  });
});
