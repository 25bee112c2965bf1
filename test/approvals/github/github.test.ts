/**
 * GitHub end to end on the real Temporal server: the GitHub tools against a local stand-in speaking GitHub's REST
 * API, approvals asked on the pull request (comment + check run) and decided by reviews, comments and check-run
 * clicks sent as signed webhooks to Airlock's HTTP server, exactly as GitHub sends them.
 */
import { randomUUID } from 'node:crypto';
import type { WorkflowHandle } from '@temporalio/client';
import { builtinRegistry } from '../../../activities';
import { submitJob } from '../../../src/jobs/submit';
import { AuditEventType } from '../../../src/core/audit';
import { jobStateQuery } from '../../../workflows/messages';
import { pendingRequest, waitForState } from '../../helpers/approvals';
import { attestationKeys } from '../../helpers/attestation';
import { startGithubServer, type GithubServer } from '../../helpers/github-server';
import { fixture, testAirlock, testWorker, uniqueId, useTemporalServer } from '../../helpers/temporal';
import { eventually } from '../../helpers/wait';

const temporal = useTemporalServer();
const TOKEN = `ghp_${randomUUID().replace(/-/g, '')}`;
const SECRET = 'github-webhook-secret-for-tests';
let gh: GithubServer;
let closeApi: () => Promise<unknown>;

const githubConfig = () => ({
  GITHUB_TOKEN: TOKEN,
  GITHUB_WEBHOOK_SECRET: SECRET,
  AIRLOCK_GITHUB_API_URL: gh.url,
  AIRLOCK_GITHUB_WRITE_INTERVAL_MS: '0',
});

beforeAll(async () => {
  gh = await startGithubServer({ token: TOKEN });
  const app = await (await testAirlock(temporal.env, { config: githubConfig() })).api();
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  gh.webhookUrl = `${base}/github/webhooks`;
  gh.webhookSecret = SECRET;
  closeApi = () => app.close();
});
afterAll(async () => {
  await closeApi?.();
  await gh?.close();
});

const REPO = 'acme/app';

function shipJob(branch: string, files: { path: string; content: string }[] = [{ path: 'VERSION', content: '2\n' }]) {
  return {
    agent: 'release-bot',
    title: `Ship ${branch}`,
    steps: [
      { id: 'branch', action: 'github.create_branch', input: { repo: REPO, branch } },
      {
        id: 'commit',
        action: 'github.commit_files',
        input: { repo: REPO, branch: { $ref: 'steps.branch.output.branch' }, message: 'Bump version', files },
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

async function submit(job: object, taskQueue: string): Promise<WorkflowHandle> {
  const { handle } = await submitJob(temporal.env.client, job as never, {
    registry: builtinRegistry(),
    taskQueue,
    requester: 'dave',
    attestationKeys,
    jobId: uniqueId('job'),
  });
  return handle;
}

/** A history as JSON with every payload decoded, so a search sees what the payloads hold. */
function historyText(history: unknown): string {
  const text = JSON.stringify(history);
  const decoded = [...text.matchAll(/"data":"([A-Za-z0-9+/=]+)"/g)].map((m) => Buffer.from(m[1], 'base64').toString());
  return `${text}\n${decoded.join('\n')}`;
}

const githubWorker = () => testWorker(temporal.env, { policy: fixture('policy-github.yaml'), config: githubConfig() });
const markerOf = (requestId: string) => `<!-- airlock:approval:${requestId}@`;
const approvalComment = (pr: number, requestId: string) =>
  gh.commentsOn(pr).find((c) => c.body.includes(markerOf(requestId)));
const checkRunFor = (requestId: string) =>
  [...gh.checkRuns.values()].find((r) => r.name === 'airlock/approval' && r.external_id?.startsWith(`${requestId}@`));

test('branch → commit → PR → merge approved on GitHub: merged once at the approved head; forged, bot, unknown and redelivered webhooks change nothing; no token in history', async () => {
  const { worker, taskQueue } = await githubWorker();
  await worker.runUntil(async () => {
    const handle = await submit(shipJob('airlock/ship-1'), taskQueue);
    const request = await pendingRequest(handle);
    expect(request.stepId).toBe('merge');
    const pr = Number((request.input as { number: number }).number);
    const approvedSha = String((request.input as { sha: string }).sha);

    // One comment on the PR and an action_required check run with the buttons on its head.
    const comment = await eventually(() => approvalComment(pr, request.id), 'the approval comment');
    expect(comment.body).toContain('github.merge_pull_request');
    expect(comment.body).toContain(request.inputDigest);
    expect(comment.body).toContain('merge-needs-an-sre-on-github');
    expect(comment.body).toContain('/airlock approve');
    const run = await eventually(() => checkRunFor(request.id), 'the check run');
    expect(run).toMatchObject({ head_sha: approvedSha, status: 'completed', conclusion: 'action_required' });
    expect(run.actions.map((a) => a.identifier)).toEqual(['approve', 'reject']);

    // Forged and unsigned webhooks: 401, nothing reaches the workflow.
    expect((await gh.review(pr, 'alice-gh', 'approved', '', { secret: 'not-the-secret' })).status).toBe(401);
    expect((await gh.send('pull_request_review', { action: 'submitted' }, { signature: null })).status).toBe(401);
    // A bot's command is ignored; an unknown login gets a reply saying why; an unknown event is acknowledged.
    expect((await gh.comment(pr, 'dependabot[bot]', '/airlock approve')).status).toBe(202);
    expect((await gh.comment(pr, 'mallory', '/airlock approve looks fine')).status).toBe(202);
    await eventually(
      () => gh.commentsOn(pr).some((c) => c.body.includes('does not know GitHub user `mallory`')),
      'the refusal reply to mallory',
    );
    expect((await gh.send('star', { action: 'created', sender: { login: 'x', type: 'User' } })).status).toBe(202);
    expect((await handle.query(jobStateQuery)).approvals[0].votes).toHaveLength(0);

    // alice approves by comment; the same delivery arriving again is taken once.
    const approve = await gh.comment(pr, 'alice-gh', '/airlock approve ship it');
    expect(approve.status).toBe(202);
    const done = await waitForState(handle, (s) => s.status === 'succeeded');
    const redelivered = await gh.redeliver(approve.delivery);
    expect(JSON.parse(redelivered.body)).toEqual({ ok: true, duplicate: true });
    await new Promise((r) => setTimeout(r, 300));

    const votes = done.approvals[0].votes;
    expect(votes.map((v) => [v.approver, v.channel, v.comment])).toEqual([['alice', 'github', 'ship it']]);
    expect(votes[0].attestation?.payload.channelIdentity).toBe('github:alice-gh');

    // Merged exactly once, at the approved head; the comment and the check run show the outcome.
    const merges = gh.calls.filter((c) => c.method === 'PUT' && c.path.endsWith(`/pulls/${pr}/merge`));
    expect(merges).toHaveLength(1);
    expect(merges[0].body.sha).toBe(approvedSha);
    expect(gh.pulls.get(pr)).toMatchObject({ merged: true, state: 'closed' });
    expect(gh.refs.get('heads/main')).toBe(gh.pulls.get(pr)!.merge_commit_sha);
    expect(gh.files(gh.refs.get('heads/main')!)['VERSION']).toBe('2\n');
    await eventually(() => checkRunFor(request.id)?.conclusion === 'success', 'the check run to succeed');
    await eventually(() => approvalComment(pr, request.id)?.body.includes('Approved'), 'the comment to show approval');
    expect(gh.commentsOn(pr).filter((c) => c.body.includes(markerOf(request.id)))).toHaveLength(1);
    // No refusal reply for the redelivery, no second vote, nothing refused in the audit trail.
    expect(gh.commentsOn(pr).filter((c) => c.body.includes('was not counted'))).toHaveLength(1);
    const events = await temporal.audit().events(handle.workflowId);
    expect(events.filter((e) => e.type === AuditEventType.ApprovalRefused)).toHaveLength(0);

    // The token never entered workflow history or the audit trail.
    const history = historyText(await handle.fetchHistory());
    expect(history).toContain(approvedSha);
    expect(history).not.toContain(TOKEN);
    expect(JSON.stringify(events)).not.toContain(TOKEN);
    expect(gh.calls.every((c) => c.auth === `token ${TOKEN}`)).toBe(true);
  });
});

test('changes requested on GitHub: rejected with the review as reason; PR closed, commit undone, branch deleted, in that order; check run failure', async () => {
  const { worker, taskQueue } = await githubWorker();
  await worker.runUntil(async () => {
    const handle = await submit(shipJob('airlock/ship-2'), taskQueue);
    const request = await pendingRequest(handle);
    const pr = Number((request.input as { number: number }).number);
    await eventually(() => checkRunFor(request.id), 'the check run');
    const before = gh.calls.length;

    expect((await gh.review(pr, 'bob-gh', 'changes_requested', 'not this week')).status).toBe(202);
    await handle.result().catch(() => undefined);
    const state = await handle.query(jobStateQuery);
    expect(state.status).toBe('rejected');
    expect(state.compensated).toEqual(['pr', 'commit', 'branch']);
    expect(state.approvals[0]).toMatchObject({ status: 'rejected' });
    expect(state.approvals[0].votes[0]).toMatchObject({
      approver: 'bob',
      decision: 'reject',
      comment: 'not this week',
    });

    const after = gh.calls.slice(before).filter((c) => c.method !== 'GET' && c.status < 300);
    const close = after.findIndex((c) => c.method === 'PATCH' && c.path.endsWith(`/pulls/${pr}`));
    const undo = after.findIndex((c) => c.method === 'PATCH' && c.path.endsWith('/git/refs/heads/airlock/ship-2'));
    const remove = after.findIndex((c) => c.method === 'DELETE' && c.path.endsWith('/git/refs/heads/airlock/ship-2'));
    expect([close, undo, remove].every((i) => i >= 0)).toBe(true);
    expect(close).toBeLessThan(undo);
    expect(undo).toBeLessThan(remove);
    expect(gh.pulls.get(pr)).toMatchObject({ state: 'closed', merged: false });
    expect(gh.refs.has('heads/airlock/ship-2')).toBe(false);
    expect(gh.count('PUT', /\/merge$/)).toBe(1); // only the first test's merge
    await eventually(() => checkRunFor(request.id)?.conclusion === 'failure', 'the check run to fail');
    expect(approvalComment(pr, request.id)!.body).toContain('not this week');
  });
});

test('a check run button decides; a secondary rate limit makes the activity wait the delay GitHub asked, then succeed', async () => {
  const { worker, taskQueue } = await githubWorker();
  await worker.runUntil(async () => {
    const start = gh.calls.length;
    gh.secondaryRateLimit({ method: 'POST', path: /\/git\/refs$/ }, 3);
    gh.failNext({ method: 'POST', path: /\/git\/blobs$/ }, 502);
    const handle = await submit(shipJob('airlock/ship-3'), taskQueue);
    const request = await pendingRequest(handle);
    const refCalls = gh.calls.slice(start).filter((c) => c.method === 'POST' && c.path.endsWith('/git/refs'));
    expect(refCalls.map((c) => c.status)).toEqual([403, 201]);
    const waited = refCalls[1].at - refCalls[0].at;
    expect(waited).toBeGreaterThanOrEqual(3000);
    expect(waited).toBeLessThan(10_000);
    const events = await temporal.audit().events(handle.workflowId);
    const failed = events.filter((e) => e.type === AuditEventType.ActionFailed);
    expect(failed.map((e) => (e.data as { error: { type: string } }).error.type)).toEqual(['GithubRateLimited']);
    // The 502 was retried inside the request (octokit's retry plugin): one blob written.
    expect(
      gh.calls
        .slice(start)
        .filter((c) => c.path.endsWith('/git/blobs'))
        .map((c) => c.status),
    ).toEqual([502, 201]);

    const run = await eventually(() => checkRunFor(request.id), 'the check run');
    expect((await gh.clickCheckRun(run.id, 'Erin-gh', 'approve')).status).toBe(202);
    const done = await waitForState(handle, (s) => s.status === 'succeeded');
    expect(done.approvals[0].votes.map((v) => v.approver)).toEqual(['erin']);
    await eventually(() => checkRunFor(request.id)?.conclusion === 'success', 'the check run to succeed');
  });
});
