/**
 * Slack interactivity: a Bolt app whose receiver is Airlock's own HTTP server (`POST /slack/events`). Listeners
 * `ack()` first, then turn the click into the one checked decision call (deliverVote); a refused click is answered
 * with an ephemeral message saying why, and nothing changes on the workflow. The message itself is updated by the
 * workflow's channel activity once the vote is recorded.
 */
import { App, type Receiver, type ReceiverEvent } from '@slack/bolt';
import { keepRawBody } from '../raw-body';
import { WebClient } from '@slack/web-api';
import type { Client } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import type { Attestor } from '../../src/core/attestation';
import type { AuditSink } from '../../src/core/audit';
import type { PeopleDirectory } from '../../src/core/people';
import { ApprovalRefusedError, deliverVote } from '../deliver';
import { ACTION_APPROVE, ACTION_REJECT, REJECT_MODAL, rejectModal, type ButtonValue } from './render';
import type { SeenDeliveries } from '../seen-deliveries';
import { REPLAY_WINDOW_SECONDS, verifySlackRequest } from './verify';

export interface SlackAppOptions {
  signingSecret: string;
  botToken: string;
  /** Slack Web API base URL (tests point it at a local server). */
  apiUrl?: string;
  temporal: Client;
  directory: PeopleDirectory;
  /** Signs each vote as the Slack channel's attestation: this person, as the Slack user of a signed request. */
  attestor: Attestor;
  audit?: AuditSink;
  /** Requests already received, in the database every API instance shares (replay protection across instances). */
  seen: SeenDeliveries;
  /**
   * The bot's ids (SLACK_BOT_ID / SLACK_BOT_USER_ID). When unknown they are asked of auth.test once at start (and
   * again in the background until it answers), never while a click waits for its acknowledgement.
   */
  botId?: string;
  botUserId?: string;
  /** Seconds since the epoch; injectable for tests. */
  now?: () => number;
}

/** Bolt calls init/start/stop; events come from our Fastify route instead of a listener of Bolt's own. */
class RouteReceiver implements Receiver {
  app?: App;
  init(app: App) {
    this.app = app;
  }
  async start() {}
  async stop() {}
}

/** How long the start-up auth.test may take before it is retried in the background. */
const IDENTITY_TIMEOUT_MS = 2_000;
/** Background retries of auth.test back off up to this. */
const IDENTITY_MAX_BACKOFF_MS = 60_000;

/**
 * The bot's identity, asked of auth.test once, in the background: Bolt given only a token asks auth.test before every
 * listener runs, so a slow Slack delays the click's acknowledgement past Slack's 3 seconds, and a failing one makes
 * Bolt drop the click. Neither start nor a click waits for this.
 */
function botIdentity(opts: SlackAppOptions) {
  const identity: { botId?: string; botUserId?: string } = { botId: opts.botId, botUserId: opts.botUserId };
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  if (!opts.botId || !opts.botUserId) {
    const client = new WebClient(opts.botToken, {
      ...(opts.apiUrl ? { slackApiUrl: opts.apiUrl } : {}),
      timeout: IDENTITY_TIMEOUT_MS,
      retryConfig: { retries: 0 },
    });
    const ask = async (attempt: number): Promise<void> => {
      try {
        const me = await client.auth.test();
        identity.botId = me.bot_id;
        identity.botUserId = me.user_id;
      } catch {
        if (stopped) return;
        timer = setTimeout(() => void ask(attempt + 1), Math.min(IDENTITY_MAX_BACKOFF_MS, 1000 * 2 ** attempt));
        timer.unref();
      }
    };
    void ask(0);
  }
  return {
    identity,
    stop: () => {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

export function createSlackApp(opts: SlackAppOptions) {
  const receiver = new RouteReceiver();
  const bot = botIdentity(opts);
  const app = new App({
    receiver,
    // Our own authorize: the token and whatever identity is known now; Bolt never calls auth.test itself.
    authorize: async () => ({
      botToken: opts.botToken,
      ...(bot.identity.botId ? { botId: bot.identity.botId } : {}),
      ...(bot.identity.botUserId ? { botUserId: bot.identity.botUserId } : {}),
    }),
    // A few quick retries: a click must be answered within Slack's 3 seconds, not after minutes of backoff.
    clientOptions: {
      ...(opts.apiUrl ? { slackApiUrl: opts.apiUrl } : {}),
      retryConfig: { retries: 2, maxTimeout: 1000 },
    },
  });

  const vote = async (args: {
    slackUser: string;
    value: ButtonValue;
    decision: 'approve' | 'reject';
    comment?: string;
    channel?: string;
  }) => {
    const say = async (text: string) => {
      // app.client has no token of its own (authorize supplies it to listeners): name it.
      if (args.channel)
        await app.client.chat.postEphemeral({
          token: opts.botToken,
          channel: args.channel,
          user: args.slackUser,
          text,
        });
    };
    const person = opts.directory.bySlack(args.slackUser);
    if (!person) {
      // Never guessed from names or emails: an unknown Slack user is refused.
      await say(
        `:no_entry: Airlock does not know Slack user ${args.slackUser}; ask an admin to add you to the people file.`,
      );
      return;
    }
    try {
      await deliverVote(
        opts.temporal,
        opts.attestor,
        {
          person,
          requestId: args.value.requestId,
          decision: args.decision,
          channel: 'slack',
          channelIdentity: `slack:${args.slackUser}`,
          comment: args.comment,
          digest: args.value.digest,
        },
        opts.audit,
      );
    } catch (err) {
      if (!(err instanceof ApprovalRefusedError)) throw err;
      await say(`:no_entry: Your ${args.decision} was not counted: ${err.message}`);
    }
  };

  app.action(ACTION_APPROVE, async ({ ack, body, action }) => {
    await ack();
    const b = body as { user: { id: string }; channel?: { id: string } };
    await vote({
      slackUser: b.user.id,
      value: JSON.parse((action as { value: string }).value),
      decision: 'approve',
      channel: b.channel?.id,
    });
  });

  app.action(ACTION_REJECT, async ({ ack, body, action, client }) => {
    await ack();
    const b = body as { trigger_id: string; channel?: { id: string } };
    const value: ButtonValue & { channel?: string } = {
      ...JSON.parse((action as { value: string }).value),
      channel: b.channel?.id,
    };
    await client.views.open({ trigger_id: b.trigger_id, view: rejectModal(value) });
  });

  app.view(REJECT_MODAL, async ({ ack, body, view }) => {
    await ack();
    const value = JSON.parse(view.private_metadata) as ButtonValue & { channel?: string };
    const reason = view.state.values.reason?.reason?.value ?? undefined;
    await vote({
      slackUser: body.user.id,
      value,
      decision: 'reject',
      comment: reason ?? undefined,
      channel: value.channel,
    });
  });

  const now = opts.now ?? (() => Math.floor(Date.now() / 1000));

  /** Registers `POST /slack/events` on Airlock's server. */
  const register = (server: FastifyInstance) =>
    server.register(async (scope) => {
      scope.addHook('onClose', async () => bot.stop());
      // Slack signs the raw body: keep it as a string.
      keepRawBody(scope);
      scope.post('/slack/events', { schema: { hide: true } }, async (req, reply) => {
        const rawBody = String(req.body ?? '');
        const signature = req.headers['x-slack-signature'] as string | undefined;
        const verdict = verifySlackRequest(
          opts.signingSecret,
          { rawBody, timestamp: req.headers['x-slack-request-timestamp'] as string | undefined, signature },
          now(),
        );
        if (!verdict.ok) return reply.status(401).send({ error: 'invalid_signature', message: verdict.reason });
        // The signature is the request's identity: an HMAC over its timestamp and raw body, so a replay that passed
        // verification carries exactly this signature (any other would not verify).
        if (!(await opts.seen.firstTime('slack', signature!, now(), REPLAY_WINDOW_SECONDS)))
          return reply.status(401).send({ error: 'replayed', message: 'this signed request was already received' });

        const form = new URLSearchParams(rawBody);
        const body = form.has('payload') ? JSON.parse(form.get('payload')!) : JSON.parse(rawBody || '{}');
        if (body.type === 'url_verification') return reply.send({ challenge: body.challenge });
        // Answer Slack as soon as the listener acks; the listener carries on after the response.
        let acked!: (response: unknown) => void;
        const ackedPromise = new Promise((resolve) => (acked = resolve));
        const event: ReceiverEvent = { body, ack: async (response?: unknown) => acked(response ?? '') };
        const processing = app.processEvent(event).catch((err) => req.log.error({ err }, 'slack listener failed'));
        const response = await Promise.race([ackedPromise, processing.then(() => '')]);
        return reply.status(200).send(response ?? '');
      });
    });

  return { app, register, identity: bot.identity, stop: bot.stop };
}
