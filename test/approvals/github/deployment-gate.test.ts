/**
 * GitHub deployment protection rules on the real Temporal server: a `deployment_protection_rule` webhook starts a
 * gate job; the policy decides (allow, deny, or humans on Slack and GitHub with quorum, escalation and timeout) and
 * GitHub's deployment callback is answered exactly once, `approved` or `rejected`, linking the audit trail.
 */
import { randomUUID } from 'node:crypto';
import { slackSignature } from '../../../approvals/slack/verify';
import { deploymentGateJobId } from '../../../src/github-deployments';
import { jobStateQuery } from '../../../workflows/messages';
import { pendingRequest, waitForState } from '../../helpers/approvals';
import { startGithubServer, type GithubServer } from '../../helpers/github-server';
import { startSlackServer } from '../../helpers/slack-server';
import { fixture, testAirlock, testWorker, useTemporalServer } from '../../helpers/temporal';
import { eventually } from '../../helpers/wait';

const temporal = useTemporalServer();
const TOKEN = `ghp_${randomUUID().replace(/-/g, '')}`;
const GITHUB_SECRET = 'github-webhook-secret-for-tests';
const SLACK_SECRET = 'slack-signing-secret-for-tests';
const PUBLIC_URL = 'https://airlock.example.test';
let gh: GithubServer;
let slack: Awaited<ReturnType<typeof startSlackServer>>;
let base: string;
let closeApi: () => Promise<unknown>;
let taskQueue: string;

const config = () => ({
  GITHUB_TOKEN: TOKEN,
  GITHUB_WEBHOOK_SECRET: GITHUB_SECRET,
  AIRLOCK_GITHUB_API_URL: gh.url,
  AIRLOCK_GITHUB_WRITE_INTERVAL_MS: '0',
  AIRLOCK_PUBLIC_URL: PUBLIC_URL,
  SLACK_BOT_TOKEN: 'xoxb-test',
  SLACK_SIGNING_SECRET: SLACK_SECRET,
  SLACK_API_URL: slack.url,
  SLACK_APPROVAL_CHANNEL: 'C0DEFAULT',
});

beforeAll(async () => {
  gh = await startGithubServer({ token: TOKEN });
  slack = await startSlackServer();
  // The API (where the webhook starts the gate) and the worker share a task queue, as in production.
  const airlock = await testAirlock(temporal.env, {
    config: config(),
    policy: fixture('policy-github-deployments.yaml'),
  });
  taskQueue = airlock.config.temporal.taskQueue;
  const app = await airlock.api();
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

const worker = () =>
  testWorker(temporal.env, { policy: fixture('policy-github-deployments.yaml'), config: config(), taskQueue });
const answersFor = (runId: number) => gh.deploymentAnswers.filter((a) => a.runId === runId);
const gateOf = (runId: number, environment: string) => {
  const jobId = deploymentGateJobId('acme/app', runId, environment);
  return { jobId, job: temporal.env.client.workflow.getHandle(jobId) };
};
/** The gate's job once the webhook (handled after GitHub was answered) started it. */
async function startedGate(runId: number, environment: string) {
  const gate = gateOf(runId, environment);
  await eventually(
    () =>
      gate.job.describe().then(
        () => true,
        () => false,
      ),
    `the gate job of run ${runId}`,
  );
  return gate;
}

/** A pull request to show the GitHub side of the approval on (a deployment of its head). */
async function openPullRequest(branch: string): Promise<number> {
  const call = async (method: string, path: string, body: object) => {
    const res = await fetch(`${gh.url}/repos/acme/app${path}`, {
      method,
      body: JSON.stringify(body),
      headers: { authorization: `token ${TOKEN}`, 'content-type': 'application/json' },
    });
    return (await res.json()) as { number: number };
  };
  await call('POST', '/git/refs', { ref: `refs/heads/${branch}`, sha: gh.refs.get('heads/main') });
  return (await call('POST', '/pulls', { head: branch, base: 'main', title: `Deploy ${branch}` })).number;
}

async function slackApprove(user: string, requestId: string, digest: string) {
  const value = JSON.stringify({ requestId, digest });
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

test('allowed by policy: one `approved` answer linking the audit trail, however often GitHub asks; denied: one `rejected`', async () => {
  const { worker: w } = await worker();
  await w.runUntil(async () => {
    const asked = await gh.requestDeployment({ runId: 101, environment: 'staging' });
    expect(asked.status).toBe(202);
    const { jobId, job } = gateOf(101, 'staging');
    await eventually(() => answersFor(101).length === 1, 'the answer');
    // Redelivered, and asked again in a new delivery: still one gate, one answer.
    await gh.redeliver(asked.delivery);
    await gh.requestDeployment({ runId: 101, environment: 'staging' });
    await temporal.env.client.workflow.getHandle(`${jobId}:deployment`).result();
    await new Promise((r) => setTimeout(r, 500));
    expect(answersFor(101)).toEqual([expect.objectContaining({ environment: 'staging', state: 'approved' })]);
    expect(answersFor(101)[0].comment).toContain(`${PUBLIC_URL}/v1/jobs/${jobId}/audit`);
    const state = await job.query(jobStateQuery);
    expect(state).toMatchObject({ status: 'succeeded', agent: 'github-deployments', requester: 'github:dave-gh' });
    expect(state.steps[0].decisions?.[0]).toMatchObject({ outcome: 'allow', ruleId: 'deploy-to-staging' });

    await gh.requestDeployment({ runId: 102, environment: 'sandbox' });
    await eventually(() => answersFor(102).length === 1, 'the rejection');
    await temporal.env.client.workflow.getHandle(`${gateOf(102, 'sandbox').jobId}:deployment`).result();
    expect(answersFor(102)).toEqual([expect.objectContaining({ environment: 'sandbox', state: 'rejected' })]);
    expect(answersFor(102)[0].comment).toContain('sandbox is retired');
    expect(answersFor(102)[0].comment).toContain(`/v1/jobs/${gateOf(102, 'sandbox').jobId}/audit`);
  });
});

test('production needs two SREs, one on Slack and one on GitHub: `approved` once both approved, not before', async () => {
  const { worker: w } = await worker();
  await w.runUntil(async () => {
    const pr = await openPullRequest('release-7');
    await gh.requestDeployment({ runId: 201, environment: 'production', ref: 'release-7', pr });
    const { job } = await startedGate(201, 'production');
    const request = await pendingRequest(job);
    expect(request).toMatchObject({ action: 'github.deployment_gate', quorum: 2, ruleId: 'production-needs-two-sres' });
    await eventually(
      () => gh.commentsOn(pr).some((c) => c.body.includes(`<!-- airlock:approval:${request.id}@`)),
      'the request on the pull request',
    );
    await eventually(() => slack.of('chat.postMessage').length > 0, 'the request in Slack');

    expect((await gh.review(pr, 'alice-gh', 'approved', 'ship')).status).toBe(202);
    await waitForState(job, (s) => s.approvals[0].votes.length === 1);
    expect(answersFor(201)).toHaveLength(0);

    expect(await slackApprove('U0BOB0001', request.id, request.inputDigest)).toBe(200);
    await waitForState(job, (s) => s.status === 'succeeded');
    await eventually(() => answersFor(201).length === 1, 'the answer');
    await new Promise((r) => setTimeout(r, 500));
    expect(answersFor(201)).toEqual([expect.objectContaining({ environment: 'production', state: 'approved' })]);
    const votes = (await job.query(jobStateQuery)).approvals[0].votes;
    expect(votes.map((v) => [v.approver, v.channel])).toEqual([
      ['alice', 'github'],
      ['bob', 'slack'],
    ]);
  });
});

test('rejected on GitHub, or nobody decided even after escalating: one `rejected` answer saying why', async () => {
  const { worker: w } = await worker();
  await w.runUntil(async () => {
    const pr = await openPullRequest('release-8');
    await gh.requestDeployment({ runId: 301, environment: 'production', ref: 'release-8', pr });
    await gh.requestDeployment({ runId: 302, environment: 'canary' });
    const request = await pendingRequest((await startedGate(301, 'production')).job);
    await eventually(
      () => gh.commentsOn(pr).some((c) => c.body.includes(`<!-- airlock:approval:${request.id}@`)),
      'the request on the pull request',
    );
    expect((await gh.comment(pr, 'alice-gh', '/airlock reject not during the incident')).status).toBe(202);
    await eventually(() => answersFor(301).length === 1, 'the rejection');
    expect(answersFor(301)[0]).toMatchObject({ environment: 'production', state: 'rejected' });
    expect(answersFor(301)[0].comment).toContain('not during the incident');

    // canary: 2 s for an SRE, escalated to the leads for 2 s more, then rejected.
    await eventually(() => answersFor(302).length === 1, 'the timeout', 30_000);
    expect(answersFor(302)[0]).toMatchObject({ environment: 'canary', state: 'rejected' });
    expect(answersFor(302)[0].comment).toContain('even after escalating to sre-leads');
    const state = await gateOf(302, 'canary').job.query(jobStateQuery);
    expect(state.status).toBe('timed_out');
    expect(state.approvals[0].escalated).toBe(true);
    await new Promise((r) => setTimeout(r, 500));
    expect(answersFor(301)).toHaveLength(1);
    expect(answersFor(302)).toHaveLength(1);
  });
});
