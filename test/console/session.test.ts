/**
 * The console's sign-in, session cookie, CSRF tokens, security headers and the trusted proxy, over real HTTP requests
 * to the API process the composition root builds (Fastify's inject: the same routes, hooks and plugins).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config';
import { loadDirectory } from '../../src/people';
import { fixture, testAirlock, useTemporalServer } from '../helpers/temporal';

const temporal = useTemporalServer();
const dataDir = mkdtempSync(join(tmpdir(), 'airlock-console-'));

async function consoleApp(config: Record<string, string> = {}) {
  const airlock = await testAirlock(temporal.env, {
    config: {
      AIRLOCK_PEOPLE_FILE: fixture('people-console.yaml'),
      AIRLOCK_DATA_DIR: dataDir,
      AIRLOCK_CONSOLE_SESSION_KEY: randomBytes(32).toString('hex'),
      ...config,
    },
  });
  return airlock.api();
}

type App = Awaited<ReturnType<typeof consoleApp>>;

/** The CSRF token in a page's forms. */
const csrfOf = (html: string) => /name="_csrf" value="([^"]+)"/.exec(html)?.[1];

/** A session cookie header from a response's Set-Cookie. */
const cookieOf = (setCookie: string | string[] | undefined) =>
  [setCookie ?? []]
    .flat()
    .map((c) => c.split(';')[0])
    .join('; ');

async function signIn(app: App, token: string, headers: Record<string, string> = {}) {
  const form = await app.inject({ method: 'GET', url: '/console/sign-in', headers });
  const res = await app.inject({
    method: 'POST',
    url: '/console/sign-in',
    headers: { ...headers, cookie: cookieOf(form.headers['set-cookie']) },
    payload: { _csrf: csrfOf(form.body)!, token, next: '/console/jobs' },
  });
  return { form, res };
}

let app: App;
beforeAll(async () => {
  app = await consoleApp();
});
afterAll(async () => {
  await app?.close();
});

test('/ redirects to the console; a page needs a person and sends a stranger to the sign-in form', async () => {
  const root = await app.inject({ method: 'GET', url: '/' });
  expect(root.statusCode).toBe(303);
  expect(root.headers.location).toBe('/console');
  const inbox = await app.inject({ method: 'GET', url: '/console/jobs?status=failed' });
  expect(inbox.statusCode).toBe(303);
  expect(inbox.headers.location).toBe('/console/sign-in?next=%2Fconsole%2Fjobs%3Fstatus%3Dfailed');
  // A form post without a session is refused in words, not redirected.
  const post = await app.inject({ method: 'POST', url: '/console/freeze', payload: { agent: 'x', reason: 'y' } });
  expect(post.statusCode).toBe(401);
  expect(post.headers['content-type']).toMatch(/^text\/html/);
  expect(post.body).toContain('You are not signed in');
});

test('pages carry a strict Content-Security-Policy and no inline script; /v1 keeps its JSON errors', async () => {
  const page = await app.inject({ method: 'GET', url: '/console/sign-in' });
  expect(page.statusCode).toBe(200);
  const csp = String(page.headers['content-security-policy']);
  expect(csp).toContain("default-src 'none'");
  expect(csp).toContain("script-src 'self'");
  expect(csp).toContain("form-action 'self'");
  expect(csp).toContain("frame-ancestors 'none'");
  expect(csp).not.toContain('unsafe-inline');
  expect(page.headers['x-content-type-options']).toBe('nosniff');
  // Every script is a file of ours; no inline script or event-handler attribute.
  const scripts = [...page.body.matchAll(/<script([^>]*)>/g)].map((m) => m[1]);
  expect(scripts.length).toBeGreaterThan(0);
  for (const attrs of scripts) expect(attrs).toMatch(/src="\/console\/static\//);
  expect(page.body).not.toMatch(/\son[a-z]+="/);
  const js = await app.inject({ method: 'GET', url: '/console/static/console.js' });
  expect(js.statusCode).toBe(200);
  const api = await app.inject({ method: 'GET', url: '/v1/jobs' });
  expect(api.statusCode).toBe(401);
  expect(api.json()).toMatchObject({ error: 'unauthorized' });
});

test('sign-in with a person token sets an HttpOnly SameSite session cookie; the session is not a bearer token', async () => {
  const { res } = await signIn(app, 'alice-test-token');
  expect(res.statusCode).toBe(303);
  expect(res.headers.location).toBe('/console/jobs');
  const setCookie = [res.headers['set-cookie']].flat().find((c) => c?.startsWith('airlock_console='))!;
  expect(setCookie).toMatch(/HttpOnly/i);
  expect(setCookie).toMatch(/SameSite=Lax/i);
  expect(setCookie).toMatch(/Path=\/console/i);
  // Plain http, no trusted proxy vouching for https: not Secure (the browser would drop it).
  expect(setCookie).not.toMatch(/Secure/i);
  const cookie = cookieOf(res.headers['set-cookie']);
  const page = await app.inject({ method: 'GET', url: '/console/on-call', headers: { cookie } });
  expect(page.statusCode).toBe(200);
  expect(page.body).toContain('Signed in as <strong>Alice</strong>');
  // The console cookie is no way into the API.
  expect((await app.inject({ method: 'GET', url: '/v1/jobs', headers: { cookie } })).statusCode).toBe(401);

  // Signing out ends the session. (The page made the session's CSRF secret: its cookie carries it.)
  const out = await app.inject({
    method: 'POST',
    url: '/console/sign-out',
    headers: { cookie: cookieOf(page.headers['set-cookie']) || cookie },
    payload: { _csrf: csrfOf(page.body)! },
  });
  expect(out.statusCode).toBe(303);
  const after = await app.inject({
    method: 'GET',
    url: '/console/on-call',
    headers: { cookie: cookieOf(out.headers['set-cookie']) },
  });
  expect(after.statusCode).toBe(303);
});

test('a wrong token, a system token and a missing CSRF token are refused in words', async () => {
  const wrong = await signIn(app, 'not-a-token');
  expect(wrong.res.statusCode).toBe(401);
  expect(wrong.res.body).toContain('That token is not in the people file');
  const system = await signIn(app, 'ci-test-token');
  expect(system.res.statusCode).toBe(401);
  expect(system.res.body).toContain('belongs to the system &quot;ci&quot;, not to a person');
  // The sign-in form itself needs its token (login CSRF).
  const form = await app.inject({ method: 'GET', url: '/console/sign-in' });
  const forged = await app.inject({
    method: 'POST',
    url: '/console/sign-in',
    headers: { cookie: cookieOf(form.headers['set-cookie']) },
    payload: { token: 'alice-test-token' },
  });
  expect(forged.statusCode).toBe(403);
  expect(forged.body).toContain('did not carry a valid security token');
  expect(forged.headers['set-cookie'] ?? '').not.toContain('airlock_console=;');
});

test('a sign-in only ever sends people on to a console page of this site', async () => {
  const form = await app.inject({ method: 'GET', url: '/console/sign-in' });
  const res = await app.inject({
    method: 'POST',
    url: '/console/sign-in',
    headers: { cookie: cookieOf(form.headers['set-cookie']) },
    payload: { _csrf: csrfOf(form.body)!, token: 'alice-test-token', next: 'https://evil.example/console' },
  });
  expect(res.statusCode).toBe(303);
  expect(res.headers.location).toBe('/console');
});

describe('behind an authenticating proxy', () => {
  let proxied: App;
  beforeAll(async () => {
    // Fastify's inject comes from 127.0.0.1: that is the proxy here.
    proxied = await consoleApp({ AIRLOCK_CONSOLE_TRUSTED_PROXIES: '127.0.0.1' });
  });
  afterAll(async () => {
    await proxied?.close();
  });

  test('the configured header from the proxy names the person; no sign-in form needed', async () => {
    const res = await proxied.inject({
      method: 'GET',
      url: '/console/agents',
      headers: { 'x-forwarded-email': 'Carol@Example.com' },
    });
    expect(res.statusCode).toBe(200);
    expect(res.body).toContain('Signed in as <strong>Carol</strong>');
    // Operators see the freeze switch; the proxy signs out, so there is no sign-out button.
    expect(res.body).not.toContain('Sign out');
  });

  test('an email nobody has is refused in words', async () => {
    const res = await proxied.inject({
      method: 'GET',
      url: '/console',
      headers: { 'x-forwarded-email': 'mallory@example.com' },
    });
    expect(res.statusCode).toBe(403);
    expect(res.body).toContain('Nobody in the people file has the email mallory@example.com');
  });

  test('from https through the proxy the cookie is Secure', async () => {
    const { res } = await signIn(proxied, 'alice-test-token', { 'x-forwarded-proto': 'https' });
    const setCookie = [res.headers['set-cookie']].flat().find((c) => c?.startsWith('airlock_console='))!;
    expect(setCookie).toMatch(/;\s*Secure/i);
  });

  test('the header from any other address is ignored', async () => {
    const elsewhere = await consoleApp({ AIRLOCK_CONSOLE_TRUSTED_PROXIES: '10.1.2.3,192.168.0.0/16' });
    try {
      const res = await elsewhere.inject({
        method: 'GET',
        url: '/console',
        headers: { 'x-forwarded-email': 'carol@example.com', 'x-forwarded-for': '10.1.2.3' },
      });
      expect(res.statusCode).toBe(303);
      expect(res.headers.location).toMatch(/^\/console\/sign-in/);
    } finally {
      await elsewhere.close();
    }
  });
});

test('bad console settings and duplicate emails are refused naming the field', () => {
  expect(() => loadConfig({ AIRLOCK_CONSOLE_TRUSTED_PROXIES: 'proxy.local' })).toThrow(
    /AIRLOCK_CONSOLE_TRUSTED_PROXIES: must be IP addresses or CIDRs/,
  );
  expect(() => loadConfig({ AIRLOCK_CONSOLE_SESSION_KEY: 'short' })).toThrow(
    /AIRLOCK_CONSOLE_SESSION_KEY: must be 32 bytes/,
  );
  expect(() => loadConfig({ AIRLOCK_TEMPORAL_UI_URL: 'not a url' })).toThrow(/AIRLOCK_TEMPORAL_UI_URL/);
  expect(loadConfig({}).console).toMatchObject({ trustedProxies: [], proxyHeader: 'x-forwarded-email' });
  expect(loadConfig({}).temporal.uiUrl).toBe('http://localhost:8233');
  const file = join(dataDir, 'people-dup.yaml');
  writeFileSync(file, 'people:\n  a: { email: x@example.com }\n  b: { email: X@example.com }\n');
  expect(() => loadDirectory(file)).toThrow(/people\.b\.email: x@example\.com is also a's|X@example\.com is also a's/);
});
