/**
 * Slack request verification (v0 signatures): HMAC-SHA256 over `v0:<timestamp>:<raw body>` with the signing secret,
 * compared in constant time; timestamps more than 5 minutes from now are refused. Pure and clock-injectable, so it is
 * tested on its own. A signature seen before (a replayed request) is refused by the route, through SeenDeliveries.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const MAX_AGE_SECONDS = 5 * 60;

export type Verdict = { ok: true } | { ok: false; reason: string };

export function slackSignature(signingSecret: string, timestamp: string, rawBody: string): string {
  return `v0=${createHmac('sha256', signingSecret).update(`v0:${timestamp}:${rawBody}`).digest('hex')}`;
}

export interface SlackRequestParts {
  rawBody: string;
  timestamp: string | undefined;
  signature: string | undefined;
}

export function verifySlackRequest(signingSecret: string, req: SlackRequestParts, nowSeconds: number): Verdict {
  if (!req.timestamp || !req.signature)
    return { ok: false, reason: 'missing X-Slack-Request-Timestamp or X-Slack-Signature' };
  const ts = Number(req.timestamp);
  if (!Number.isInteger(ts)) return { ok: false, reason: 'the timestamp is not a number' };
  if (Math.abs(nowSeconds - ts) > MAX_AGE_SECONDS)
    return { ok: false, reason: 'the timestamp is more than 5 minutes away from now' };
  const expected = Buffer.from(slackSignature(signingSecret, req.timestamp, req.rawBody));
  const given = Buffer.from(req.signature);
  if (given.length !== expected.length || !timingSafeEqual(given, expected))
    return { ok: false, reason: 'the signature does not match' };
  return { ok: true };
}

/**
 * How long a signature is remembered to refuse replays: a request is accepted while its timestamp is within
 * MAX_AGE_SECONDS of now, on either side, so a signature seen now may be presented again for up to twice that.
 */
export const REPLAY_WINDOW_SECONDS = MAX_AGE_SECONDS * 2;
