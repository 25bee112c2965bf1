import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { LookupAddress } from 'node:dns';
import { hostAllowed, type OutboundPolicy } from '../../../src/core/hosts';
import { activityRunner, failureOf } from '../../helpers/activity';
import { testDeps } from '../../helpers/temporal';

let server: Server;
let base: string;
let port: number;
const seen: { method?: string; url?: string; headers: IncomingHttpHeaders; body: string }[] = [];
beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      seen.push({ method: req.method, url: req.url, headers: req.headers, body });
      const status = Number(new URL(req.url!, 'http://x').searchParams.get('status') ?? 200);
      if (req.url?.startsWith('/redirect')) {
        const to = new URL(req.url, 'http://x').searchParams.get('to');
        res.writeHead(302, { location: to ?? 'http://evil.example/steal' });
        return res.end();
      }
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ok: status < 400 }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
  base = `http://127.0.0.1:${port}`;
});
afterAll(() => server.close());
beforeEach(() => (seen.length = 0));

const { run } = activityRunner({ secret: (name) => (name === 'API_TOKEN' ? 's3cr3t' : undefined) });

test('sends the idempotency key, resolves secret headers on the worker, and parses JSON', async () => {
  const out = await run('http.request', {
    input: {
      method: 'POST',
      url: `${base}/things`,
      json: { a: 1 },
      headers: { authorization: { $secret: 'API_TOKEN' } },
    },
  });
  expect(out).toEqual({ status: 200, contentType: 'application/json', body: { ok: true }, truncated: false });
  expect(seen[0].headers['idempotency-key']).toBe('job-1/step');
  expect(seen[0].headers.authorization).toBe('s3cr3t');
  expect(seen[0].body).toBe('{"a":1}');
  expect(JSON.stringify(out)).not.toContain('s3cr3t');
});

test('4xx is non-retryable, 5xx and 429 are retryable', async () => {
  expect(await failureOf(run('http.request', { input: { url: `${base}/x?status=404` } }))).toMatchObject({
    type: 'HttpClientError',
    nonRetryable: true,
  });
  expect(await failureOf(run('http.request', { input: { url: `${base}/x?status=503` } }))).toMatchObject({
    type: 'HttpServerError',
    nonRetryable: false,
  });
  expect(await failureOf(run('http.request', { input: { url: `${base}/x?status=429` } }))).toMatchObject({
    type: 'HttpServerError',
    nonRetryable: false,
  });
});

test('hosts outside the allow-list, missing secrets, and redirects to other hosts are refused', async () => {
  const strict = activityRunner({ http: { ...testDeps().http, allowedHosts: ['api.example.com'] } });
  expect(await failureOf(strict.run('http.request', { input: { url: `${base}/x` } }))).toMatchObject({
    type: 'HostNotAllowed',
    nonRetryable: true,
  });
  expect(seen).toHaveLength(0);
  expect(
    await failureOf(
      run('http.request', { input: { url: `${base}/x`, headers: { authorization: { $secret: 'MISSING' } } } }),
    ),
  ).toMatchObject({
    type: 'SecretMissing',
  });
  expect(await failureOf(run('http.request', { input: { url: `${base}/redirect` } }))).toMatchObject({
    type: 'HostNotAllowed',
    message: expect.stringMatching(/evil\.example/),
  });
  expect(seen).toHaveLength(1);
});

test('hostAllowed matches exact hosts, subdomain wildcards and host:port', () => {
  const u = (s: string) => new URL(s);
  expect(hostAllowed(u('https://api.example.com/x'), ['api.example.com'])).toBe(true);
  expect(hostAllowed(u('https://evil-api.example.com/x'), ['api.example.com'])).toBe(false);
  expect(hostAllowed(u('https://a.example.com'), ['*.example.com'])).toBe(true);
  expect(hostAllowed(u('https://example.com'), ['*.example.com'])).toBe(false);
  expect(hostAllowed(u('https://example.com.evil.io'), ['*.example.com'])).toBe(false);
  expect(hostAllowed(u('http://127.0.0.1:8080'), ['127.0.0.1:8080'])).toBe(true);
  expect(hostAllowed(u('http://127.0.0.1:9090'), ['127.0.0.1:8080'])).toBe(false);
});

/** Local-server deps with some outbound settings replaced (spread, so the test helper's other fields stay). */
const withHttp = (
  http: Partial<OutboundPolicy>,
  secret = (name: string) => (name === 'API_TOKEN' ? 's3cr3t' : undefined),
) => activityRunner({ http: { ...testDeps().http, ...http }, secret });
/** A resolver that answers `localhost` from a script, one answer per call, and counts the calls. */
function scripted(...answers: string[]) {
  const calls: string[] = [];
  const resolve = async (hostname: string): Promise<LookupAddress[]> => {
    calls.push(hostname);
    const address = answers[Math.min(calls.length, answers.length) - 1];
    return [{ address, family: address.includes(':') ? 6 : 4 }];
  };
  return { resolve, calls };
}

test('https is the default: plain http goes only to hosts configured for it', async () => {
  const { run } = withHttp({ allowedHosts: [`127.0.0.1:${port}`], insecureHosts: [] });
  expect(await failureOf(run('http.request', { input: { url: `${base}/x` } }))).toMatchObject({
    type: 'HostNotAllowed',
    nonRetryable: true,
    message: expect.stringMatching(/https only/),
  });
  expect(seen).toHaveLength(0);
});

test('loopback is refused unless its network is configured: literal, IPv4-mapped, [::1] and by name', async () => {
  const hosts = [`127.0.0.1:${port}`, `[::ffff:7f00:1]:${port}`, `[::1]:${port}`, `localhost:${port}`];
  const { run } = withHttp({ allowedHosts: hosts, insecureHosts: hosts, allowedNetworks: [] });
  for (const url of [
    `${base}/x`,
    `http://[::ffff:127.0.0.1]:${port}/x`,
    `http://[::1]:${port}/x`,
    `http://localhost:${port}/x`,
  ]) {
    expect(await failureOf(run('http.request', { input: { url } }))).toMatchObject({
      type: 'HostNotAllowed',
      nonRetryable: true,
      message: expect.stringMatching(/(127\.0\.0\.1|::1|7f00:1).* not allowed/),
    });
  }
  expect(seen).toHaveLength(0);
});

test('a name is judged by the address it resolves to: private, CGNAT, link-local and ULA answers are refused', async () => {
  for (const answer of ['10.0.0.5', '100.64.1.1', '169.254.169.254', 'fd00::1', '::ffff:10.0.0.5']) {
    const dns = scripted(answer);
    const { run } = withHttp({ allowedHosts: [`localhost:${port}`], insecureHosts: [`localhost:${port}`], ...dns });
    expect(await failureOf(run('http.request', { input: { url: `http://localhost:${port}/x` } }))).toMatchObject({
      type: 'HostNotAllowed',
      message: expect.stringContaining(`resolves to ${answer}`),
    });
    expect(dns.calls).toEqual(['localhost']);
  }
  expect(seen).toHaveLength(0); // refused before connecting
});

test('DNS rebinding: the connection goes to the address that was checked, resolved once', async () => {
  // 127.0.0.1 stands in for the public answer (its network is allowed); 127.0.0.2 for the private one (it is not).
  const decoy = createServer((_req, res) => res.writeHead(200).end('rebound'));
  await new Promise<void>((r) => decoy.listen(port, '127.0.0.2', r));
  try {
    const dns = scripted('127.0.0.1', '127.0.0.2');
    const { run } = withHttp({
      allowedHosts: [`localhost:${port}`],
      insecureHosts: [`localhost:${port}`],
      allowedNetworks: ['127.0.0.1/32'],
      ...dns,
    });
    expect(await run('http.request', { input: { url: `http://localhost:${port}/x` } })).toMatchObject({
      status: 200,
      body: { ok: true },
    });
    expect(dns.calls).toHaveLength(1); // no second resolution between the check and the connect
    expect(seen).toHaveLength(1);
    // The next connection resolves again and gets the private answer: refused, the decoy never reached.
    expect(await failureOf(run('http.request', { input: { url: `http://localhost:${port}/x` } }))).toMatchObject({
      type: 'HostNotAllowed',
      message: expect.stringContaining('resolves to 127.0.0.2'),
    });
    expect(seen).toHaveLength(1);
  } finally {
    decoy.close();
  }
});

test('redirects are followed hop by hop, each checked: to a private address is refused before connecting', async () => {
  const dns = scripted('169.254.169.254');
  const { run } = withHttp({
    allowedHosts: [`127.0.0.1:${port}`, `localhost:${port}`],
    insecureHosts: [`127.0.0.1:${port}`, `localhost:${port}`],
    allowedNetworks: ['127.0.0.1/32'],
    ...dns,
  });
  const to = encodeURIComponent(`http://localhost:${port}/latest/meta-data/`);
  expect(await failureOf(run('http.request', { input: { url: `${base}/redirect?to=${to}` } }))).toMatchObject({
    type: 'HostNotAllowed',
    message: expect.stringContaining('resolves to 169.254.169.254'),
  });
  expect(seen.map((s) => s.url)).toEqual([`/redirect?to=${to}`]);
  // A literal private address in Location is refused without a lookup.
  const literal = encodeURIComponent(`http://10.0.0.5:${port}/`);
  expect(await failureOf(run('http.request', { input: { url: `${base}/redirect?to=${literal}` } }))).toMatchObject({
    type: 'HostNotAllowed',
  });
  expect(seen).toHaveLength(2);
});

test('an allowed redirect is followed; secrets and authorization do not cross to another origin', async () => {
  const dns = scripted('127.0.0.1');
  const runner = withHttp({
    allowedHosts: [`127.0.0.1:${port}`, `localhost:${port}`],
    insecureHosts: [`127.0.0.1:${port}`, `localhost:${port}`],
    allowedNetworks: ['127.0.0.1/32'],
    ...dns,
  });
  const to = encodeURIComponent(`http://localhost:${port}/landed`);
  const out = await runner.run('http.request', {
    input: { url: `${base}/redirect?to=${to}`, headers: { 'x-api-key': { $secret: 'API_TOKEN' }, 'x-plain': 'p' } },
  });
  expect(out).toMatchObject({ status: 200 });
  expect(seen.map((s) => s.url)).toEqual([`/redirect?to=${to}`, '/landed']);
  expect(seen[0].headers['x-api-key']).toBe('s3cr3t');
  expect(seen[1].headers['x-api-key']).toBeUndefined();
  expect(seen[1].headers['x-plain']).toBe('p');
  expect(seen[1].headers['idempotency-key']).toBe('job-1/step');
});

test('credentials in the URL are refused', async () => {
  const url = `http://user:pass@127.0.0.1:${port}/x`;
  expect(await failureOf(run('http.request', { input: { url } }))).toMatchObject({
    nonRetryable: true,
    message: expect.stringMatching(/credentials/),
  });
  expect(seen).toHaveLength(0);
});

test('the Idempotency-Key header belongs to the tool: no other casing can add or replace one', async () => {
  for (const name of ['idempotency-key', 'IDEMPOTENCY-KEY', 'Idempotency-Key']) {
    const failure = await failureOf(run('http.request', { input: { url: `${base}/x`, headers: { [name]: 'mine' } } }));
    expect(failure).toMatchObject({ nonRetryable: true, message: expect.stringMatching(/set by the tool/) });
  }
  expect(seen).toHaveLength(0);
  await run('http.request', {
    input: { method: 'POST', url: `${base}/x`, json: {}, headers: { 'Content-Type': 'application/merge-patch+json' } },
  });
  expect(seen[0].headers['idempotency-key']).toBe('job-1/step');
  expect(seen[0].headers['content-type']).toBe('application/merge-patch+json');
});
