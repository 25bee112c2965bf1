/** The Slack channel on its own: escalation and timeout shown in the original message; escalation approvers DMed. */
import { WebClient } from '@slack/web-api';
import { SlackChannel } from '../../../approvals/slack/channel';
import { loadConfig } from '../../../src/config';
import type { ApprovalRequest } from '../../../src/core/approval';
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
