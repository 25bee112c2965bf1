/**
 * The Slack side of an approval request: one message per request round in the channel the policy names (or the
 * default), updated in place as votes arrive and when it closes; on escalation, the escalation approvers get a
 * direct message. The message `ts` is kept in the database, so a retried activity updates instead of posting again.
 */
import type { WebClient } from '@slack/web-api';
import type { Database } from '../../src/core/db';
import type { PeopleDirectory } from '../../src/core/people';
import type { ApprovalRequest } from '../../src/core/approval';
import type { ApprovalChannel } from '../channel';
import { approvalBlocks } from './render';

const MIGRATION = `CREATE TABLE IF NOT EXISTS slack_messages (
  round text NOT NULL,
  channel text NOT NULL,
  ts text NOT NULL,
  PRIMARY KEY (round, channel)
)`;

export interface SlackChannelOptions {
  client: WebClient;
  db: Database;
  directory: PeopleDirectory;
  /** Where requests go when the policy says just `slack` (SLACK_APPROVAL_CHANNEL). */
  defaultChannel: string;
}

export class SlackChannel implements ApprovalChannel {
  readonly name = 'slack';

  private constructor(private readonly opts: SlackChannelOptions) {}

  static async create(opts: SlackChannelOptions): Promise<SlackChannel> {
    await opts.db.exec(MIGRATION);
    return new SlackChannel(opts);
  }

  private async ts(round: string, channel: string): Promise<string | undefined> {
    const rows = (
      await this.opts.db.query<{ ts: string }>(`SELECT ts FROM slack_messages WHERE round = $1 AND channel = $2`, [
        round,
        channel,
      ])
    ).rows;
    return rows[0]?.ts;
  }

  /** Posts the request's message once per (round, channel); afterwards only updates it. */
  private async show(request: ApprovalRequest, channel: string, round: string): Promise<void> {
    const message = approvalBlocks(request);
    const ts = await this.ts(round, channel);
    if (ts) {
      await this.opts.client.chat.update({ channel, ts, ...message });
      return;
    }
    const posted = await this.opts.client.chat.postMessage({ channel, ...message });
    // A DM is answered from the DM's own channel id; keep the ts under the id we asked for.
    await this.opts.db.query(
      `INSERT INTO slack_messages (round, channel, ts) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`,
      [round, channel, posted.ts],
    );
  }

  async announce(request: ApprovalRequest, event: 'requested' | 'escalated', target?: string): Promise<void> {
    const round = `${request.id}@${request.requestedAt}`;
    await this.show(request, target ?? this.opts.defaultChannel, round);
    if (event === 'escalated') {
      for (const person of this.opts.directory.members(request.groups)) {
        if (person.slack && person.id !== request.requester)
          await this.show(request, person.slack, `${round}#escalated`);
      }
    }
  }

  async update(request: ApprovalRequest, target?: string): Promise<void> {
    const round = `${request.id}@${request.requestedAt}`;
    await this.show(request, target ?? this.opts.defaultChannel, round);
    if (request.escalated) {
      for (const person of this.opts.directory.members(request.groups)) {
        if (person.slack && (await this.ts(`${round}#escalated`, person.slack)))
          await this.show(request, person.slack, `${round}#escalated`);
      }
    }
  }
}
