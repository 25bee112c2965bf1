/** The Slack channel on its own: escalation and timeout shown in the original message; escalation approvers DMed. */
import { WebClient } from '@slack/web-api';
import { SlackChannel } from '../../../approvals/slack/channel';
import { loadConfig } from '../../../src/config';
import type { ApprovalRequest } from '../../../src/core/approval';
import type { Database } from '../../../src/core/db';
import { directory } from '../../helpers/approvals';
import { startSlackServer } from '../../helpers/slack-server';
import { useTestAudit } from '../../helpers/temporal';

const audit = useTestAudit();

const request = (over: Partial<ApprovalRequest> = {}): ApprovalRequest => ({
  id: 'job-1:merge',
  jobId: 'job-1',
  stepId: 'merge',
  title: 'Ship',
  agent: 'release-bot',
  requester: 'bob',
  action: 'git.merge',
  risk: 'medium',
  input: { repo: '/srv/app.git', token: 'hunter2' },
  inputDigest: `sha256:${'a'.repeat(64)}`,
  policyHash: `sha256:${'b'.repeat(64)}`,
  ruleId: 'prod-merge',
  groups: ['sre'],
  quorum: 2,
  channels: ['slack'],
  status: 'pending',
  votes: [],
  requestedAt: '2026-11-22T00:00:00.000Z',
  deadline: '2026-11-22T04:00:00.000Z',
  escalated: false,
  rollbackPlan: [],
  ...over,
});

test('one post per round; escalation updates it and DMs the escalation group; the timeout shows; secrets never shown', async () => {
  const slack = await startSlackServer();
  try {
    const channel = await SlackChannel.create({
      client: new WebClient('xoxb-test', { slackApiUrl: slack.url }),
      db: audit.store.db,
      directory,
      defaultChannel: 'C0DEFAULT',
    });
    await channel.announce(request(), 'requested');
    await channel.announce(request(), 'requested'); // a retried activity
    expect(slack.of('chat.postMessage')).toHaveLength(1);
    expect(JSON.stringify(slack.of('chat.postMessage')[0].args.blocks)).not.toContain('hunter2');

    const escalated = request({ escalated: true, groups: ['sre-leads'], quorum: 1 });
    await channel.announce(escalated, 'escalated');
    expect(slack.of('chat.update').at(-1)!.args).toMatchObject({ channel: 'C0DEFAULT', ts: '1800000000.000001' });
    expect(JSON.stringify(slack.of('chat.update').at(-1)!.args.blocks)).toContain('escalated to sre-leads');
    // carol is the only sre-lead with a Slack id: she gets a direct message with the buttons.
    expect(slack.of('chat.postMessage').map((c) => c.args.channel)).toEqual(['C0DEFAULT', 'U0CAROL01']);

    await channel.update({ ...escalated, status: 'timed_out', closedAt: '2026-11-22T05:00:00.000Z' });
    const timedOut = slack.of('chat.update').filter((u) => JSON.stringify(u.args.blocks).includes('Timed out'));
    expect(timedOut.map((u) => u.args.channel).sort()).toEqual(['C0DEFAULT', 'U0CAROL01']);
    expect(timedOut.every((u) => !(u.args.blocks as { type: string }[]).some((b) => b.type === 'actions'))).toBe(true);
  } finally {
    await slack.close();
  }
});

test('start-up refuses a Slack channel without its signing secret, naming the variable', () => {
  expect(() => loadConfig({ SLACK_BOT_TOKEN: 'xoxb-1', SLACK_APPROVAL_CHANNEL: 'C1' })).toThrow(
    /SLACK_SIGNING_SECRET: required when SLACK_BOT_TOKEN is set/,
  );
  expect(
    loadConfig({ SLACK_BOT_TOKEN: 'xoxb-1', SLACK_APPROVAL_CHANNEL: 'C1', SLACK_SIGNING_SECRET: 's' }).slack,
  ).toMatchObject({ defaultChannel: 'C1' });
});

test('a crash between chat.postMessage and recording its ts posts no second message (the retry finds it)', async () => {
  const slack = await startSlackServer();
  try {
    // The process dies right after Slack created the message: the first write of a ts to slack_messages fails.
    let crashed = false;
    let postedBefore = 0;
    const db = audit.store.db;
    const crashing: Database = {
      ...db,
      kind: db.kind,
      exec: (sql) => db.exec(sql),
      close: () => db.close(),
      query: async (text, params) => {
        if (
          !crashed &&
          /slack_messages/.test(text) &&
          slack.messages.length > postedBefore &&
          /INSERT|UPDATE/.test(text)
        ) {
          crashed = true;
          throw new Error('worker killed');
        }
        return db.query(text, params);
      },
    };
    const client = new WebClient('xoxb-test', { slackApiUrl: slack.url });
    const r = request({ id: 'job-crash:merge', jobId: 'job-crash' });
    const first = await SlackChannel.create({ client, db: crashing, directory, defaultChannel: 'C0DEFAULT' });
    await expect(first.announce(r, 'requested')).rejects.toThrow('worker killed');
    expect(slack.messages).toHaveLength(1);

    // The retry, in a new process: finds the message by the round in its metadata and updates it.
    const second = await SlackChannel.create({ client, db, directory, defaultChannel: 'C0DEFAULT' });
    await second.announce(r, 'requested');
    await second.update({ ...r, status: 'approved', closedAt: '2026-11-22T01:00:00.000Z' });
    expect(slack.messages).toHaveLength(1);
    expect(slack.of('chat.postMessage')).toHaveLength(1);
    expect(slack.of('chat.update').map((u) => u.args.ts)).toEqual([slack.messages[0].ts, slack.messages[0].ts]);

    // The same for an escalation DM, whose history is under the DM's conversation id.
    crashed = false;
    postedBefore = slack.messages.length;
    const esc = { ...r, escalated: true, groups: ['sre-leads'], quorum: 1 };
    const third = await SlackChannel.create({ client, db: crashing, directory, defaultChannel: 'C0DEFAULT' });
    await expect(third.announce(esc, 'escalated')).rejects.toThrow('worker killed');
    expect(slack.messages).toHaveLength(2);
    await second.announce(esc, 'escalated');
    expect(slack.messages.map((m) => m.channel)).toEqual(['C0DEFAULT', 'D0CAROL01']);
  } finally {
    await slack.close();
  }
});
