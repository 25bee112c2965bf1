/** What redaction masks before data reaches the audit trail or a Slack message (the store test covers the wiring). */
import { redact, REDACTED } from '../../src/core/redact';

/** Fake credentials of the real shapes, built at run time so no scanner mistakes this file for a leak. */
const fake = {
  awsId: 'AKIA' + 'IOSFODNN7EXAMPLE',
  awsSessionId: 'ASIA' + 'Y34FZKBOKMUTVV7A',
  awsSecret: 'wJalrXUtnFEMI/K7MDENG/' + 'bPxRfiCYEXAMPLEKEY',
  github: 'ghp_' + 'a'.repeat(36),
  githubOauth: 'gho_' + 'B'.repeat(36),
  githubServer: 'ghs_' + 'c1'.repeat(18),
  githubUser: 'ghu_' + 'D2'.repeat(18),
  githubPat: 'github_pat_' + '11ABCDEFG0'.repeat(6),
  slack: 'xoxb-' + '1234567890-abcdefghij',
  slackUser: 'xoxp-' + '1234567890-abcdefghij',
  google: 'AIza' + 'SyA1234567890abcdefghijklmnopqrstuv',
  stripe: 'sk_live_' + '4eC39HqLyjWDarjtT1zdp7dc',
  stripeRestricted: 'rk_live_' + '4eC39HqLyjWDarjtT1zdp7dc',
  jwt:
    'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9' +
    '.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ' +
    '.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c',
  pem: '-----BEGIN RSA ' + 'PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\nabc\n-----END RSA ' + 'PRIVATE KEY-----',
};

const leaks = (value: unknown) =>
  Object.entries(fake)
    .filter(([, secret]) => JSON.stringify(value).includes(secret.slice(6, 20)))
    .map(([name]) => name);

test('everything under a secret-named key is masked at any depth, arrays too; $secret references stay', () => {
  const out = redact({
    config: {
      credentials: { user: 'svc', nested: { deeper: ['one', { two: 2 }] } },
      apiKeys: ['k1', 'k2'],
      clientSecret: 12345,
      authorization: { $secret: 'API_TOKEN' },
      list: [{ password: 'hunter2' }, { ok: 'visible' }],
    },
  });
  expect(out).toEqual({
    config: {
      credentials: { user: REDACTED, nested: { deeper: [REDACTED, { two: REDACTED }] } },
      apiKeys: [REDACTED, REDACTED],
      clientSecret: REDACTED,
      authorization: { $secret: 'API_TOKEN' },
      list: [{ password: REDACTED }, { ok: 'visible' }],
    },
  });
});

test('credentials in URLs: user-info and token-like query parameters', () => {
  const out = redact({
    a: 'https://deploy:s3cret-pass@git.example.com/repo.git',
    b: 'https://ghtoken123@api.example.com/x',
    c: 'see https://api.example.com/cb?job=1&token=abc123&access_token=def456&api_key=ghi789 now',
    d: 'https://bucket.s3.amazonaws.com/o?X-Amz-Credential=AK%2F2024&X-Amz-Signature=f00dbeef&sig=zzz',
    e: 'https://app.example.com/#access_token=frag-token-1&state=ok',
  });
  expect(out.a).toBe(`https://${REDACTED}@git.example.com/repo.git`);
  expect(out.b).toBe(`https://${REDACTED}@api.example.com/x`);
  expect(out.c).toBe(
    `see https://api.example.com/cb?job=1&token=${REDACTED}&access_token=${REDACTED}&api_key=${REDACTED} now`,
  );
  expect(out.d).not.toMatch(/AK%2F2024|f00dbeef|zzz/);
  expect(out.e).toBe(`https://app.example.com/#access_token=${REDACTED}&state=ok`);
});

test('bearer and basic credentials, JWTs and auth header lines inside strings', () => {
  const basic = Buffer.from('admin:hunter2').toString('base64');
  const out = redact({
    curl: `curl -H 'Authorization: Bearer abcdefghijkl' -H "x-api-key: kkkkkkkk" https://x`,
    basic: `Authorization: Basic ${basic}`,
    prose: 'Basic configuration steps',
    jwt: `the session was ${fake.jwt}.`,
    lower: 'bearer abcdefghijklmnop',
  });
  expect(JSON.stringify(out)).not.toMatch(/abcdefghijkl|kkkkkkkk|hunter2|SflKxwRJ/);
  expect(JSON.stringify(out)).not.toContain(basic);
  expect(out.prose).toBe('Basic configuration steps');
  expect(out.jwt).toBe(`the session was ${REDACTED}.`);
});

test('well-known key formats are masked wherever they appear', () => {
  const text = Object.values(fake).join(' | ');
  // Alone, an AWS secret key is 40 characters of base64 like many others: it is found next to its key id (below).
  const alone = Object.values({ ...fake, awsSecret: fake.awsId });
  const out = redact({ note: `found: ${text}`, list: alone });
  expect(leaks(out)).toEqual([]);
  // An AWS secret key (no prefix of its own) next to its key id, as in a credentials file or an env dump.
  const env = redact(`AWS_ACCESS_KEY_ID=${fake.awsId}\nAWS_SECRET_ACCESS_KEY=${fake.awsSecret}`);
  expect(env).not.toContain(fake.awsSecret);
  expect(redact(`aws_secret_access_key = ${fake.awsSecret}`)).not.toContain(fake.awsSecret);
  // A clipped PEM block (no END line) is still a key.
  expect(redact(fake.pem.slice(0, 50))).toBe(REDACTED);
});

test('ordinary data is left alone', () => {
  const data = {
    title: 'Deploy v1.2.3 to staging',
    url: 'https://api.example.com/v1/things?page=2&sort=name',
    sha: 'a94a8fe5ccb19ba61c4c0873d391e987982fbbd3',
    count: 3,
    nothing: null,
  };
  expect(redact(data)).toEqual(data);
});
