/**
 * The Slack side of an approval request: one message per request round in the channel the policy names (or the
 * default), updated in place as votes arrive and when it closes; on escalation, the escalation approvers get a
 * direct message. The message `ts` is kept in the database, so a retried activity updates instead of posting again.
 *
 * A crash between chat.postMessage and recording its `ts` must not post twice: the intent is recorded first (a row
 * with no ts), and the message carries the round in its metadata. A retry that finds an intent without a ts looks for
 * that message in the conversation's history (conversations.history with include_all_metadata) before posting.
 * Slack's Web API offers no idempotency key for chat.postMessage, so the history is the only way to know.
 */
import { ErrorCode, type WebAPIPlatformError, type WebClient } from '@slack/web-api';
import type { Database } from '../../src/core/db';
import type { PeopleDirectory } from '../../src/core/people';
import type { ApprovalRequest } from '../../src/core/approval';
import type { ApprovalChannel } from '../channel';
import { approvalBlocks } from './render';

// ts is NULL while a post is intended but not known to have happened (claimed_at: when the intent was recorded).
const MIGRATION = `CREATE TABLE IF NOT EXISTS slack_messages (
  round text NOT NULL,
  channel text NOT NULL,
  ts text,
  claimed_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (round, channel)
);
ALTER TABLE slack_messages ALTER COLUMN ts DROP NOT NULL;
ALTER TABLE slack_messages ADD COLUMN IF NOT EXISTS claimed_at timestamptz NOT NULL DEFAULT now()`;

/** The metadata event type Airlock's messages carry (with `event_payload.round`), found again after a crash. */
export const SLACK_EVENT_TYPE = 'airlock_approval';

/** How far before the recorded intent the history is searched (clock skew between us and Slack). */
const HISTORY_SLACK_SECONDS = 300;
/** Pages of history searched at most: the message was posted right after the intent, so it is near the start. */
const HISTORY_PAGES = 5;

interface MessageRow {
  ts: string | null;
  claimed_at: Date | string;
}

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

  private async row(round: string, channel: string): Promise<MessageRow | undefined> {
    const rows = (
      await this.opts.db.query<MessageRow>(
        `SELECT ts, claimed_at FROM slack_messages WHERE round = $1 AND channel = $2`,
        [round, channel],
      )
    ).rows;
    return rows[0];
  }

  private async ts(round: string, channel: string): Promise<string | undefined> {
    return (await this.row(round, channel))?.ts ?? undefined;
  }

  /**
   * The message an earlier attempt posted for this round, if it did: searched in the conversation's history by the
   * round in its metadata, from shortly before the intent was recorded.
   */
  private async find(channel: string, round: string, since: Date): Promise<string | undefined> {
    const { client } = this.opts;
    // A DM is addressed by user id, but its history lives under the DM's own conversation id.
    const conversation = /^[UW]/.test(channel)
      ? ((await client.conversations.open({ users: channel })).channel?.id ?? channel)
      : channel;
    const oldest = String(Math.floor(since.getTime() / 1000) - HISTORY_SLACK_SECONDS);
    let cursor: string | undefined;
    for (let page = 0; page < HISTORY_PAGES; page++) {
      const res = await client.conversations.history({
        channel: conversation,
        oldest,
        include_all_metadata: true,
        limit: 200,
        ...(cursor ? { cursor } : {}),
      });
      const found = res.messages?.find(
        (m) =>
          m.metadata?.event_type === SLACK_EVENT_TYPE &&
          (m.metadata.event_payload as { round?: unknown } | undefined)?.round === round,
      );
      if (found?.ts) return found.ts;
      cursor = res.response_metadata?.next_cursor;
      if (!res.has_more || !cursor) return undefined;
    }
    return undefined;
  }

  /** Posts the request's message once per (round, channel); afterwards only updates it. */
  private async show(request: ApprovalRequest, channel: string, round: string): Promise<void> {
    const message = approvalBlocks(request);
    const row = await this.row(round, channel);
    if (row?.ts) {
      await this.opts.client.chat.update({ channel, ts: row.ts, ...message });
      return;
    }
    if (row) {
      // An earlier attempt meant to post and died before recording the ts: it may have posted.
      const found = await this.lookup(channel, round, new Date(row.claimed_at));
      if (found) {
        await this.record(round, channel, found);
        await this.opts.client.chat.update({ channel, ts: found, ...message });
        return;
      }
    } else {
      // The intent first: a crash after the post leaves this row, and the retry searches before posting again.
      await this.opts.db.query(`INSERT INTO slack_messages (round, channel) VALUES ($1, $2) ON CONFLICT DO NOTHING`, [
        round,
        channel,
      ]);
    }
    const posted = await this.opts.client.chat.postMessage({
      channel,
      ...message,
      metadata: { event_type: SLACK_EVENT_TYPE, event_payload: { round } },
    });
    // A DM is answered from the DM's own channel id; keep the ts under the id we asked for.
    await this.record(round, channel, posted.ts!);
  }

  /** find(), except that a workspace where the app may not read history (no *:history scope) posts again. */
  private async lookup(channel: string, round: string, since: Date): Promise<string | undefined> {
    try {
      return await this.find(channel, round, since);
    } catch (err) {
      const e = err as WebAPIPlatformError;
      if (e.code === ErrorCode.PlatformError && ['missing_scope', 'not_in_channel'].includes(e.data?.error))
        return undefined;
      throw err;
    }
  }

  private async record(round: string, channel: string, ts: string): Promise<void> {
    await this.opts.db.query(
      `INSERT INTO slack_messages (round, channel, ts) VALUES ($1, $2, $3)
       ON CONFLICT (round, channel) DO UPDATE SET ts = EXCLUDED.ts WHERE slack_messages.ts IS NULL`,
      [round, channel, ts],
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
