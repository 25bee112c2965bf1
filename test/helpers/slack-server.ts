/**
 * A local stand-in for Slack's Web API: answers chat.postMessage, chat.update, chat.postEphemeral, views.open and
 * auth.test as Slack does (form or JSON bodies in, `{ok: true, …}` out) and records every call to count side effects.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface SlackCall {
  method: string;
  args: Record<string, unknown>;
}

const JSON_FIELDS = ['blocks', 'attachments', 'view', 'metadata'];

export async function startSlackServer() {
  const calls: SlackCall[] = [];
  let n = 0;
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
      const ts = `1800000000.${String(++n).padStart(6, '0')}`;
      const answers: Record<string, unknown> = {
        'auth.test': { ok: true, user_id: 'U0AIRLOCK', bot_id: 'B0AIRLOCK', team_id: 'T0TEAM' },
        'chat.postMessage': { ok: true, channel: args.channel, ts, message: { ts, text: args.text } },
        'chat.update': { ok: true, channel: args.channel, ts: args.ts },
        'chat.postEphemeral': { ok: true, message_ts: ts },
        'views.open': { ok: true, view: { id: `V${n}` } },
      };
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(answers[method] ?? { ok: false, error: 'unknown_method' }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/`,
    calls,
    of: (method: string) => calls.filter((c) => c.method === method),
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
