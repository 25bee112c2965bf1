/**
 * Fault suite: the same vote arriving more than once. Slack re-delivers a click it thinks timed out (the very same
 * signed request, with X-Slack-Retry-Num), a person double-clicks (two separately signed clicks, concurrently), a
 * client repeats its API call (three identical POSTs, concurrently). Counted: one vote per person in the job state,
 * one approval.vote audit event per person; every duplicate is answered with a reason, never a 5xx.
 */
import { createHash, randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { slackSignature } from '../../approvals/slack/verify';
import { builtinRegistry } from '../../activities';
import { submitJob } from '../../src/jobs/submit';
import { jobStateQuery } from '../../workflows/messages';
import { pendingRequest, waitForState } from '../helpers/approvals';
import { attestationKeys } from '../helpers/attestation';
import { makeRepo } from '../helpers/git';
import { startSlackServer } from '../helpers/slack-server';
import { testAirlock, testWorker, uniqueId, useTemporalServer } from '../helpers/temporal';
import { eventually } from '../helpers/wait';
import { mergeJob, mergePolicy } from './helpers';

const temporal = useTemporalServer();
const SECRET = 'slack-signing-secret-for-duplicates';
const { dir, policy } = mergePolicy('airlock-dupes-', {
  allow: ['git.create_branch'],
  approval: "{ groups: [sre], quorum: 3, timeout: 1h, channels: ['slack:C0APPROVALS', api] }",
  rule: 'merge-needs-three-sres',
});
// People reachable both in Slack and over the API (a token each: <id>-test-token).
const token = (who: string) => `${who}-test-token`;
const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const people = join(dir, 'people.yaml');
writeFileSync(
  people,
  `people:
  alice: { groups: [sre], slack: U0ALICE01, tokenSha256: ${sha(token('alice'))} }
  bob: { groups: [sre], slack: U0BOB0001, tokenSha256: ${sha(token('bob'))} }
  erin: { groups: [sre], slack: U0ERIN001, tokenSha256: ${sha(token('erin'))} }
  frank: { groups: [sre], slack: U0FRANK01, tokenSha256: ${sha(token('frank'))} }
`,
);

let slack: Awaited<ReturnType<typeof startSlackServer>>;
let base: string;
let closeApi: () => Promise<unknown>;
const config = () => ({
  SLACK_BOT_TOKEN: 'xoxb-test',
  SLACK_SIGNING_SECRET: SECRET,
  SLACK_API_URL: slack.url,
  SLACK_APPROVAL_CHANNEL: 'C0DEFAULT',
  AIRLOCK_PEOPLE_FILE: people,
  AIRLOCK_RATE_LIMIT_PER_MINUTE: '100000',
});
beforeAll(async () => {
  slack = await startSlackServer();
  const app = await (await testAirlock(temporal.env, { config: config(), policy })).api();
  base = await app.listen({ host: '127.0.0.1', port: 0 });
  closeApi = () => app.close();
});
afterAll(async () => {
  await closeApi?.();
  await slack?.close();
});

/** A click on a button, form-encoded and signed as Slack signs it; each call is a new, separately signed request. */
function signedClick(user: string, value: string) {
  const payload = {
    type: 'block_actions',
    user: { id: user },
    team: { id: 'T0TEAM' },
    api_app_id: 'A0AIRLOCK',
    channel: { id: 'C0APPROVALS' },
    trigger_id: `trigger-${randomUUID()}`,
    actions: [
      { type: 'button', action_id: 'airlock_approve', block_id: 'airlock_decision', value, action_ts: randomUUID() },
    ],
  };
  const body = `payload=${encodeURIComponent(JSON.stringify(payload))}`;
  const ts = String(Math.floor(Date.now() / 1000));
  return {
    body,
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'x-slack-request-timestamp': ts,
      'x-slack-signature': slackSignature(SECRET, ts, body),
    } as Record<string, string>,
  };
}
const postSlack = async (
  req: { body: string; headers: Record<string, string> },
  extra: Record<string, string> = {},
) => {
  const res = await fetch(`${base}/slack/events`, {
    method: 'POST',
    body: req.body,
    headers: { ...req.headers, ...extra },
  });
  return { status: res.status, body: await res.text() };
};

test('Slack retries, a double click and repeated API calls: one vote and one audit event per person', async () => {
  const { repo, cleanup } = makeRepo();
  const { worker, taskQueue } = await testWorker(temporal.env, { policy, config: config() });
  try {
    await worker.runUntil(async () => {
      const { handle, jobId } = await submitJob(temporal.env.client, mergeJob('Duplicate votes', repo, 'dupes'), {
        registry: builtinRegistry(),
        taskQueue,
        requester: 'bob',
        attestationKeys,
        jobId: uniqueId('job'),
      });
      const request = await pendingRequest(handle);
      await eventually(() => slack.of('chat.postMessage').length === 1, 'the approval message');
      const value = JSON.stringify({ requestId: request.id, digest: request.inputDigest });

      // 1. Slack retries: the first delivery, then the same signed request re-delivered as Slack does after a timeout.
      const alice = signedClick('U0ALICE01', value);
      const first = await postSlack(alice);
      const retries = await Promise.all(
        [1, 2].map((n) => postSlack(alice, { 'x-slack-retry-num': String(n), 'x-slack-retry-reason': 'http_timeout' })),
      );
      console.log(`slack retries: first ${first.status}, retries ${retries.map((r) => `${r.status} ${r.body}`)}`);
      expect(first.status).toBe(200);
      for (const r of retries) {
        expect(r.status).toBe(401);
        expect(JSON.parse(r.body)).toMatchObject({ error: 'replayed' });
      }
      await waitForState(handle, (s) => s.approvals[0].votes.length === 1);

      // 2. A double click: two separately signed clicks of the same button by erin, at once.
      const ephemeralBefore = slack.of('chat.postEphemeral').length;
      const clicks = await Promise.all([
        postSlack(signedClick('U0ERIN001', value)),
        postSlack(signedClick('U0ERIN001', value)),
      ]);
      console.log(`double click: ${clicks.map((c) => c.status)}`);
      for (const c of clicks) expect(c.status).toBe(200);
      await waitForState(handle, (s) => s.approvals[0].votes.length === 2);
      await eventually(
        () => slack.of('chat.postEphemeral').length === ephemeralBefore + 1,
        'the refusal of the second click',
      );
      const refusal = slack.of('chat.postEphemeral').at(-1)!.args;
      console.log(`second click answered: ${String(refusal.text)}`);
      expect(refusal).toMatchObject({ user: 'U0ERIN001', text: expect.stringMatching(/already voted/) });

      // 3. The same API call three times, at once (frank's vote completes the quorum).
      const calls = await Promise.all(
        [1, 2, 3].map(() =>
          fetch(`${base}/v1/approvals/${encodeURIComponent(request.id)}/decision`, {
            method: 'POST',
            headers: { authorization: `Bearer ${token('frank')}`, 'content-type': 'application/json' },
            body: JSON.stringify({ decision: 'approve', digest: request.inputDigest }),
          }).then(async (r) => ({ status: r.status, body: await r.text() })),
        ),
      );
      console.log(`repeated API calls: ${calls.map((c) => `${c.status} ${c.body}`).join(' | ')}`);
      expect(calls.map((c) => c.status).sort()).toEqual([200, 409, 409]);
      for (const c of calls.filter((x) => x.status !== 200)) {
        expect(JSON.parse(c.body)).toMatchObject({ message: expect.stringMatching(/already (voted|approved)/) });
      }

      const result = await handle.result();
      expect(result.status).toBe('succeeded');
      const votes = (await handle.query(jobStateQuery)).approvals[0].votes;
      expect(votes.map((v) => [v.approver, v.channel])).toEqual([
        ['alice', 'slack'],
        ['erin', 'slack'],
        ['frank', 'api'],
      ]);
      // Nothing buffered arrives later: the audit trail, sealed, counts one approval.vote per person.
      const audit = temporal.audit();
      await eventually(async () => (await audit.head(jobId))?.signature, 'the signed head');
      const voteEvents = (await audit.events(jobId)).filter((e) => e.type === 'approval.vote');
      const actors = voteEvents.map((e) => e.actor).sort();
      console.log(`approval.vote events by person: ${actors.join(', ')}`);
      expect(actors).toEqual(['alice', 'erin', 'frank']);
    });
  } finally {
    cleanup();
  }
});
