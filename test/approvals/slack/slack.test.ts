/**
 * Approvers click in Slack: end to end on the real Temporal server, with a local server speaking Slack's Web API and
 * signed interactivity requests sent to Airlock's HTTP server, exactly as Slack sends them.
 */
import { randomUUID } from 'node:crypto';
import { slackSignature } from '../../../approvals/slack/verify';
import { builtinRegistry } from '../../../activities';
import { submitJob } from '../../../src/jobs/submit';
import { jobStateQuery } from '../../../workflows/messages';
import { pendingRequest, waitForState } from '../../helpers/approvals';
import { gitOut, makeRepo } from '../../helpers/git';
import { startSlackServer } from '../../helpers/slack-server';
import { fixture, testAirlock, testWorker, uniqueId, useTemporalServer } from '../../helpers/temporal';
import { eventually } from '../../helpers/wait';
import { attestationKeys } from '../../helpers/attestation';

const temporal = useTemporalServer();
const SECRET = 'slack-signing-secret-for-tests';
let slack: Awaited<ReturnType<typeof startSlackServer>>;
let base: string;
let closeApi: () => Promise<unknown>;

beforeAll(async () => {
  slack = await startSlackServer();
  const app = await (await testAirlock(temporal.env, { config: slackConfig() })).api();
  base = await app.listen({ host: '127.0.0.1', port: 0 });
  closeApi = () => app.close();
});
afterAll(async () => {
  await closeApi?.();
  await slack?.close();
});

/** Slack as configured in production, pointed at the local Slack server. */
const slackConfig = () => ({
  SLACK_BOT_TOKEN: 'xoxb-test',
  SLACK_SIGNING_SECRET: SECRET,
  SLACK_API_URL: slack.url,
  SLACK_APPROVAL_CHANNEL: 'C0DEFAULT',
});

/** A worker whose approval requests go to the local Slack server, under the Slack policy. */
function slackWorker() {
  return testWorker(temporal.env, { policy: fixture('policy-slack.yaml'), config: slackConfig() });
}

/** A block_actions or view_submission request, form-encoded and signed as Slack signs it. */
function signedRequest(payload: object, opts: { secret?: string; ts?: number } = {}) {
  const body = `payload=${encodeURIComponent(JSON.stringify(payload))}`;
  const ts = String(opts.ts ?? Math.floor(Date.now() / 1000));
  return {
    body,
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'x-slack-request-timestamp': ts,
      'x-slack-signature': slackSignature(opts.secret ?? SECRET, ts, body),
    },
  };
}

const post = (req: { body: string; headers: Record<string, string> }) =>
  fetch(`${base}/slack/events`, { method: 'POST', body: req.body, headers: req.headers });

function click(user: string, action: 'airlock_approve' | 'airlock_reject', value: string) {
  return {
    type: 'block_actions',
    user: { id: user },
    team: { id: 'T0TEAM' },
    api_app_id: 'A0AIRLOCK',
    channel: { id: 'C0APPROVALS' },
    trigger_id: `trigger-${randomUUID()}`,
    actions: [{ type: 'button', action_id: action, block_id: 'airlock_decision', value, action_ts: '1' }],
  };
}

test('a click in Slack resumes the job; refused clicks answer ephemerally; forged and stale requests are 401', async () => {
  const { repo, cleanup } = makeRepo();
  const { worker, taskQueue } = await slackWorker();
  try {
    await worker.runUntil(async () => {
      const { handle } = await submitJob(
        temporal.env.client,
        {
          agent: 'release-bot',
          title: 'Ship via Slack',
          steps: [
            { id: 'branch', action: 'git.create_branch', input: { repo, branch: 'slack' } },
            {
              id: 'bump',
              action: 'git.commit',
              input: { repo, branch: 'slack', message: 'Bump', files: [{ path: 'S', content: '1' }] },
            },
            { id: 'merge', action: 'git.merge', input: { repo, source: 'slack', target: 'main' } },
          ],
        },
        { registry: builtinRegistry(), taskQueue, requester: 'bob', attestationKeys, jobId: uniqueId('job') },
      );
      const request = await pendingRequest(handle);

      // One message, in the channel the policy names, with the buttons.
      await eventually(() => slack.of('chat.postMessage').length === 1, 'the approval message');
      const [posted] = slack.of('chat.postMessage');
      expect(posted.args.channel).toBe('C0APPROVALS');
      const actions = (
        posted.args.blocks as { type: string; elements?: { action_id: string; value: string }[] }[]
      ).find((b) => b.type === 'actions')!;
      expect(actions.elements!.map((e) => e.action_id)).toEqual(['airlock_approve', 'airlock_reject']);
      const value = actions.elements![0].value;
      expect(JSON.parse(value)).toEqual({ requestId: request.id, digest: request.inputDigest });
      expect(JSON.stringify(posted.args.blocks)).toContain('0 of 2 from sre');

      // Forged and stale requests never reach the workflow.
      expect(
        (await post(signedRequest(click('U0ALICE01', 'airlock_approve', value), { secret: 'forged' }))).status,
      ).toBe(401);
      expect(
        (
          await post(
            signedRequest(click('U0ALICE01', 'airlock_approve', value), { ts: Math.floor(Date.now() / 1000) - 600 }),
          )
        ).status,
      ).toBe(401);
      // The requester's own click: an ephemeral refusal, and the job keeps waiting.
      expect((await post(signedRequest(click('U0BOB0001', 'airlock_approve', value)))).status).toBe(200);
      await eventually(() => slack.of('chat.postEphemeral').length === 1, 'the refusal');
      expect(slack.of('chat.postEphemeral')[0].args).toMatchObject({
        user: 'U0BOB0001',
        text: expect.stringContaining('bob requested this job'),
      });
      // An unknown Slack user is refused, never guessed.
      await post(signedRequest(click('U0NOBODY1', 'airlock_approve', value)));
      await eventually(() => slack.of('chat.postEphemeral').length === 2, 'the unknown-user refusal');
      expect(slack.of('chat.postEphemeral')[1].args.text).toContain('does not know Slack user U0NOBODY1');
      expect((await handle.query(jobStateQuery)).approvals[0].votes).toEqual([]);

      // Alice approves; the very same request delivered again is refused; a second click is not a second vote.
      const alice = signedRequest(click('U0ALICE01', 'airlock_approve', value));
      expect((await post(alice)).status).toBe(200);
      expect((await post(alice)).status).toBe(401);
      await waitForState(handle, (s) => s.approvals[0].votes.length === 1);
      await post(signedRequest(click('U0ALICE01', 'airlock_approve', value)));
      await eventually(() => slack.of('chat.postEphemeral').length === 3, 'the already-voted refusal');
      expect(slack.of('chat.postEphemeral')[2].args.text).toContain('alice has already voted');
      await eventually(
        () => slack.of('chat.update').some((u) => JSON.stringify(u.args.blocks).includes('1 of 2 from sre')),
        'the message to show 1 of 2',
      );

      // Erin completes the quorum: the job resumes, and the message shows the outcome without buttons.
      await post(signedRequest(click('U0ERIN001', 'airlock_approve', value)));
      await handle.result();
      const state = await handle.query(jobStateQuery);
      expect(state.approvals[0].votes.map((v) => [v.approver, v.channel])).toEqual([
        ['alice', 'slack'],
        ['erin', 'slack'],
      ]);
      const last = slack.of('chat.update').at(-1)!;
      expect(last.args).toMatchObject({ channel: 'C0APPROVALS', ts: '1800000000.000001' });
      expect(JSON.stringify(last.args.blocks)).toContain('Approved');
      expect((last.args.blocks as { type: string }[]).some((b) => b.type === 'actions')).toBe(false);
      expect(slack.of('chat.postMessage')).toHaveLength(1);
    });
    expect(gitOut(repo, 'show', 'main:S')).toBe('1');
  } finally {
    cleanup();
  }
});

test('Reject opens a modal for the reason; submitting it rejects the request and compensates', async () => {
  const { repo, cleanup } = makeRepo();
  const { worker, taskQueue } = await slackWorker();
  try {
    await worker.runUntil(async () => {
      const { handle } = await submitJob(
        temporal.env.client,
        {
          agent: 'release-bot',
          title: 'Reject via Slack',
          steps: [
            { id: 'branch', action: 'git.create_branch', input: { repo, branch: 'nope' } },
            { id: 'merge', action: 'git.merge', input: { repo, source: 'nope', target: 'main' } },
          ],
        },
        { registry: builtinRegistry(), taskQueue, requester: 'bob', attestationKeys, jobId: uniqueId('job') },
      );
      const request = await pendingRequest(handle);
      const value = JSON.stringify({ requestId: request.id, digest: request.inputDigest });
      const opened = slack.of('views.open').length;
      expect((await post(signedRequest(click('U0ALICE01', 'airlock_reject', value)))).status).toBe(200);
      await eventually(() => slack.of('views.open').length === opened + 1, 'the reason modal');
      const view = slack.of('views.open').at(-1)!.args.view as { callback_id: string; private_metadata: string };
      expect(view.callback_id).toBe('airlock_reject_reason');

      const submission = {
        type: 'view_submission',
        user: { id: 'U0ALICE01' },
        team: { id: 'T0TEAM' },
        api_app_id: 'A0AIRLOCK',
        view: {
          ...view,
          id: 'V1',
          state: { values: { reason: { reason: { type: 'plain_text_input', value: 'wrong release window' } } } },
        },
      };
      expect((await post(signedRequest(submission))).status).toBe(200);
      await handle.result().catch(() => undefined);
      const state = await handle.query(jobStateQuery);
      expect(state.status).toBe('rejected');
      expect(state.approvals[0].votes[0]).toMatchObject({
        approver: 'alice',
        channel: 'slack',
        decision: 'reject',
        comment: 'wrong release window',
      });
      expect(state.compensated).toEqual(['branch']);
    });
  } finally {
    cleanup();
  }
});

test('two API instances on one database, and an instance started later, accept a signed request once', async () => {
  const { repo, cleanup } = makeRepo();
  const { worker, taskQueue } = await slackWorker();
  // A second API instance: its own composition root, the same database (the file's audit store).
  const instance = async () => {
    const app = await (await testAirlock(temporal.env, { config: slackConfig() })).api();
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    return { url, close: () => app.close() };
  };
  const second = await instance();
  const postTo = (url: string, req: { body: string; headers: Record<string, string> }) =>
    fetch(`${url}/slack/events`, { method: 'POST', body: req.body, headers: req.headers });
  try {
    await worker.runUntil(async () => {
      const { handle } = await submitJob(
        temporal.env.client,
        {
          agent: 'release-bot',
          title: 'Replayed click',
          steps: [
            { id: 'branch', action: 'git.create_branch', input: { repo, branch: 'replay' } },
            { id: 'merge', action: 'git.merge', input: { repo, source: 'replay', target: 'main' } },
          ],
        },
        { registry: builtinRegistry(), taskQueue, requester: 'bob', attestationKeys, jobId: uniqueId('job') },
      );
      const request = await pendingRequest(handle);
      const value = JSON.stringify({ requestId: request.id, digest: request.inputDigest });
      const alice = signedRequest(click('U0ALICE01', 'airlock_approve', value));
      const ephemeral = slack.of('chat.postEphemeral').length;

      const answers = await Promise.all([postTo(base, alice), postTo(second.url, alice)]);
      expect(answers.map((a) => a.status).sort()).toEqual([200, 401]);
      await waitForState(handle, (s) => s.approvals[0].votes.length === 1);
      // A "restart": a third instance, started after the request was seen, still refuses it within the window.
      await second.close();
      const restarted = await instance();
      try {
        const again = await postTo(restarted.url, alice);
        expect(again.status).toBe(401);
        expect(await again.json()).toMatchObject({ error: 'replayed' });
      } finally {
        await restarted.close();
      }
      // One vote, and no second delivery reached the workflow (no "already voted" refusal was sent).
      expect((await handle.query(jobStateQuery)).approvals[0].votes.map((v) => v.approver)).toEqual(['alice']);
      expect(slack.of('chat.postEphemeral')).toHaveLength(ephemeral);
    });
  } finally {
    await second.close();
    cleanup();
  }
});
