import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostAllowed } from '../../../src/core/hosts';
import { activityRunner, failureOf } from '../../helpers/activity';

let server: Server;
let base: string;
const seen: { method?: string; url?: string; headers: IncomingHttpHeaders; body: string }[] = [];
beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      seen.push({ method: req.method, url: req.url, headers: req.headers, body });
      const status = Number(new URL(req.url!, 'http://x').searchParams.get('status') ?? 200);
      if (req.url?.startsWith('/redirect')) {
        res.writeHead(302, { location: 'http://evil.example/steal' });
        return res.end();
      }
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ok: status < 400 }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
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
  const strict = activityRunner({ http: { allowedHosts: ['api.example.com'], fetch } });
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
  const redirected = await run('http.request', { input: { url: `${base}/redirect` } });
  expect(redirected).toMatchObject({ status: 302 });
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
