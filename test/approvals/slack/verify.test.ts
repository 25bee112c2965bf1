import { slackSignature, verifySlackRequest } from '../../../approvals/slack/verify';

const secret = '8f742231b10e8888abcd99yyyzzz85a5';
const body = 'payload=%7B%22type%22%3A%22block_actions%22%7D';
const now = 1_800_000_000;
const signed = (ts: number, b = body) => ({
  rawBody: b,
  timestamp: String(ts),
  signature: slackSignature(secret, String(ts), b),
});

test("Slack's documented example signature", () => {
  // From Slack's "Verifying requests from Slack" guide.
  const example =
    'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c';
  expect(slackSignature(secret, '1531420618', example)).toBe(
    'v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503',
  );
});

test('a fresh, correctly signed request passes', () => {
  expect(verifySlackRequest(secret, signed(now - 10), now)).toEqual({ ok: true });
});

test.each([
  [
    'a forged signature',
    { ...signed(now), signature: slackSignature('wrong-secret', String(now), body) },
    'the signature does not match',
  ],
  ['a changed body', { ...signed(now), rawBody: body + 'x' }, 'the signature does not match'],
  ['a stale timestamp', signed(now - 301), 'more than 5 minutes'],
  ['a timestamp from the future', signed(now + 301), 'more than 5 minutes'],
  ['no signature', { rawBody: body, timestamp: String(now), signature: undefined }, 'missing'],
  ['a truncated signature', { ...signed(now), signature: 'v0=abc' }, 'the signature does not match'],
])('%s is refused', (_name, req, reason) => {
  const v = verifySlackRequest(secret, req, now);
  expect(v.ok).toBe(false);
  expect(!v.ok && v.reason).toContain(reason);
});
