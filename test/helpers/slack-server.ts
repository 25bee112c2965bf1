/**
 * A local stand-in for Slack's Web API: answers chat.postMessage, chat.update, chat.postEphemeral, views.open,
 * conversations.open, conversations.history and auth.test as Slack does (form or JSON bodies in, `{ok: true, …}` out),
 * keeps the messages it was asked to post (with their metadata, returned by conversations.history only with
 * include_all_metadata, as Slack does) and records every call to count side effects.
 *
 * Faults are injected per method: a delay before answering, an error answer (`{ok: false, error}`), or a post that
 * creates its message and never answers (the caller dies waiting).
 */
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SlackCall {
  method: string;
  args: Record<string, unknown>;
}

export interface SlackMessage {
  channel: string;
  ts: string;
  text?: unknown;
  blocks?: unknown;
  metadata?: { event_type: string; event_payload?: Record<string, unknown> };
}

export interface SlackFaults {
  /** Milliseconds to wait before answering this method. */
  delayMs?: (method: string) => number;
  /** An error code to answer this method with (`{ok: false, error}`), or undefined to answer normally. */
  error?: (method: string) => string | undefined;
  /** true: do what the call asks (a post creates its message) but never answer. */
  hang?: (method: string) => boolean;
}

const JSON_FIELDS = ['blocks', 'attachments', 'view', 'metadata'];

/** Slack addresses a DM by user id; the conversation has an id of its own (D…). */
const conversationOf = (channel: string) => (/^[UW]/.test(channel) ? `D${channel.slice(1)}` : channel);

export async function startSlackServer() {
  const calls: SlackCall[] = [];
  const messages: SlackMessage[] = [];
  const faults: SlackFaults = {};
  const hung: ServerResponse[] = [];
  let n = 0;

  const history = (args: Record<string, unknown>) => {
    const channel = String(args.channel);
    const oldest = Number(args.oldest ?? 0);
    const withMetadata = String(args.include_all_metadata) === 'true';
    const limit = Number(args.limit ?? 100);
    const start = Number(args.cursor ?? 0);
    const all = messages
      .filter((m) => m.channel === channel && Number(m.ts) > oldest)
      .reverse() // newest first
      .map(({ metadata, ...m }) => ({ type: 'message', ...m, ...(withMetadata && metadata ? { metadata } : {}) }));
    const page = all.slice(start, start + limit);
    const more = start + limit < all.length;
    return {
      ok: true,
      messages: page,
      has_more: more,
      response_metadata: { next_cursor: more ? String(start + limit) : '' },
    };
  };

  const server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      const method = (req.url ?? '').replace(/^\/api\//, '').split('?')[0];
      let args: Record<string, unknown>;
      if ((req.headers['content-type'] ?? '').includes('json')) args = JSON.parse(raw || '{}');
      else {
        args = Object.fromEntries(new URLSearchParams(raw));
        for (const f of JSON_FIELDS) if (typeof args[f] === 'string') args[f] = JSON.parse(args[f] as string);
      }
      calls.push({ method, args });
      const answer = (): unknown => {
        const error = faults.error?.(method);
        if (error) return { ok: false, error };
        // A new ts only for what creates something, so the numbering does not depend on other calls.
        const next = () => `1800000000.${String(++n).padStart(6, '0')}`;
        switch (method) {
          case 'auth.test':
            return { ok: true, user_id: 'U0AIRLOCK', bot_id: 'B0AIRLOCK', team_id: 'T0TEAM' };
          case 'chat.postMessage': {
            const ts = next();
            const channel = conversationOf(String(args.channel));
            messages.push({
              channel,
              ts,
              text: args.text,
              blocks: args.blocks,
              metadata: args.metadata as SlackMessage['metadata'],
            });
            return { ok: true, channel, ts, message: { ts, text: args.text } };
          }
          case 'chat.update': {
            const m = messages.find((x) => x.channel === conversationOf(String(args.channel)) && x.ts === args.ts);
            if (m) Object.assign(m, { text: args.text, blocks: args.blocks });
            return { ok: true, channel: args.channel, ts: args.ts };
          }
          case 'chat.postEphemeral':
            return { ok: true, message_ts: next() };
          case 'views.open':
            return { ok: true, view: { id: `V${next()}` } };
          case 'conversations.open':
            return { ok: true, channel: { id: conversationOf(String(args.users)) } };
          case 'conversations.history':
            return history(args);
          default:
            return { ok: false, error: 'unknown_method' };
        }
      };
      const send = () => {
        const body = answer();
        if (faults.hang?.(method)) {
          hung.push(res);
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      const delay = faults.delayMs?.(method) ?? 0;
      if (delay > 0) setTimeout(send, delay);
      else send();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/`,
    calls,
    /** Messages posted (one per chat.postMessage that created one), oldest first. */
    messages,
    /** Faults to inject; assign its fields while the server runs. */
    faults,
    of: (method: string) => calls.filter((c) => c.method === method),
    close: () =>
      new Promise<void>((r) => {
        for (const res of hung.splice(0)) res.destroy();
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
