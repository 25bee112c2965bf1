/**
 * The console's sign-in, session cookie, CSRF tokens, security headers and the trusted proxy, over real HTTP requests
 * to the API process the composition root builds (Fastify's inject: the same routes, hooks and plugins); and the
 * operators' repair forms against a worker running the jobs.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Worker } from '@temporalio/worker';
import { loadConfig } from '../../src/config';
import { operationsTrailId } from '../../src/core/audit';
import { loadDirectory } from '../../src/people';
import { waitForState } from '../helpers/approvals';
import { gitOut, makeRepo } from '../helpers/git';
import { fixture, testAirlock, uniqueId, useTemporalServer, workflowBundle } from '../helpers/temporal';
import { eventually } from '../helpers/wait';

const temporal = useTemporalServer();
const dataDir = mkdtempSync(join(tmpdir(), 'airlock-console-'));

const consoleAirlock = (config: Record<string, string> = {}) =>
  testAirlock(temporal.env, {
    config: {
      AIRLOCK_PEOPLE_FILE: fixture('people-console.yaml'),
      AIRLOCK_DATA_DIR: dataDir,
      AIRLOCK_CONSOLE_SESSION_KEY: randomBytes(32).toString('hex'),
      ...config,
    },
  });

async function consoleApp(config: Record<string, string> = {}) {
  return (await consoleAirlock(config)).api();
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
  // One Temporal UI address for the console and `jobs show`.
  expect(loadConfig({}).temporal.uiUrl).toBe('http://localhost:8233');
  const file = join(dataDir, 'people-dup.yaml');
  writeFileSync(file, 'people:\n  a: { email: x@example.com }\n  b: { email: X@example.com }\n');
  expect(() => loadDirectory(file)).toThrow(/people\.b\.email: x@example\.com is also a's|X@example\.com is also a's/);
});

describe("operators' repairs from the console", () => {
  let airlock: Awaited<ReturnType<typeof consoleAirlock>>;
  let ops: App;
  let worker: Worker;
  let running: Promise<void>;
  let git: ReturnType<typeof makeRepo> | undefined;
  beforeAll(async () => {
    airlock = await consoleAirlock();
    ops = await airlock.api();
    worker = await airlock.worker({
      connection: temporal.env.nativeConnection,
      workflowBundle: await workflowBundle(),
    });
    running = worker.run();
  }, 60_000);
  afterAll(async () => {
    await ops?.close();
    worker?.shutdown();
    await running;
    git?.cleanup();
  });

  /** A job (submitted by the `ci` system) whose one step fails; resolves once it has ended failed. */
  async function failedJob() {
    const res = await ops.inject({
      method: 'POST',
      url: '/v1/jobs',
      headers: { authorization: 'Bearer ci-test-token', 'idempotency-key': uniqueId('key') },
      payload: {
        agent: 'release-bot',
        title: 'Run the flaky suite',
        steps: [{ id: 'suite', action: 'shell.run', input: { argv: ['sh', '-c', 'exit 3'], cwd: '/tmp' } }],
      },
    });
    expect(res.statusCode).toBe(201);
    const jobId: string = res.json().id;
    await waitForState(airlock.client.workflow.getHandle(jobId), (s) => s.status === 'failed');
    return jobId;
  }

  /** A signed-in person's page: its body, its form token, and the cookie to post with. */
  async function pageAs(token: string, url: string) {
    const cookie = cookieOf((await signIn(ops, token)).res.headers['set-cookie']);
    const page = await ops.inject({ method: 'GET', url, headers: { cookie } });
    expect(page.statusCode).toBe(200);
    return { body: page.body, csrf: csrfOf(page.body)!, cookie: cookieOf(page.headers['set-cookie']) || cookie };
  }

  test('an operator retries a failed job from its page: a new job linked both ways; a refusal says why', async () => {
    const jobId = await failedJob();
    const action = `/console/jobs/${jobId}/retry`;
    // On call offers the retry too.
    expect((await pageAs('alice-test-token', '/console/on-call')).body).toContain(`action="${action}"`);
    const page = await pageAs('alice-test-token', `/console/jobs/${jobId}`);
    expect(page.body).toContain(`action="${action}"`);

    const res = await ops.inject({
      method: 'POST',
      url: action,
      headers: { cookie: page.cookie },
      payload: { _csrf: page.csrf, reason: 'runner fixed' },
    });
    expect(res.statusCode).toBe(303);
    const retryId = `${jobId}.retry-1`;
    expect(res.headers.location).toBe(`/console/jobs/${retryId}`);
    // The new job exists, says whose retry it is, and its page links the original.
    const state = await waitForState(airlock.client.workflow.getHandle(retryId), (s) => Boolean(s.retryOf));
    expect(state.retryOf).toMatchObject({ jobId, status: 'failed', by: 'alice', reason: 'runner fixed' });
    const retryPage = await ops.inject({
      method: 'GET',
      url: res.headers.location as string,
      headers: { cookie: cookieOf(res.headers['set-cookie']) || page.cookie },
    });
    expect(retryPage.statusCode).toBe(200);
    expect(retryPage.body).toContain(`You retried job ${jobId} as this new job, ${retryId}.`);
    expect(retryPage.body).toContain(
      `Retry of</dt><dd><a href="/console/jobs/${jobId}">${jobId}</a>, which ended failed`,
    );
    // The original's operations trail has the link, by alice; its page links the retry (once visibility has it).
    expect(await airlock.audit.events(operationsTrailId(jobId))).toMatchObject([
      { type: 'job.retried', actor: 'alice', data: { jobId, retriedBy: retryId } },
    ]);
    await eventually(
      async () =>
        (await pageAs('alice-test-token', `/console/jobs/${jobId}`)).body.includes(`href="/console/jobs/${retryId}"`),
      'the original to link its retry',
    );

    // An ended job is not reset: refused (409) in the operation's own words, with the way back to the job.
    const again = await pageAs('alice-test-token', `/console/jobs/${jobId}`);
    const reset = await ops.inject({
      method: 'POST',
      url: `/console/jobs/${jobId}/reset`,
      headers: { cookie: again.cookie },
      payload: { _csrf: again.csrf, toStep: 'suite' },
    });
    expect(reset.statusCode).toBe(409);
    expect(reset.body).toContain(`Job ${jobId} has ended (failed): only a running job is reset; retry it instead`);
    expect(reset.body).toContain(`<a href="/console/jobs/${jobId}">Back to the job</a>`);
  });

  test('a non-operator sees no repair forms, and a forged retry is refused (403) and audited', async () => {
    const jobId = await failedJob();
    const page = await pageAs('dave-test-token', `/console/jobs/${jobId}`);
    expect(page.body).not.toContain(`/console/jobs/${jobId}/retry`);
    expect(page.body).not.toContain('Repair this job');
    expect((await pageAs('dave-test-token', '/console/on-call')).body).not.toContain(`/console/jobs/${jobId}/retry`);

    // With his own valid form token: refused for who he is.
    const res = await ops.inject({
      method: 'POST',
      url: `/console/jobs/${jobId}/retry`,
      headers: { cookie: page.cookie },
      payload: { _csrf: page.csrf },
    });
    expect(res.statusCode).toBe(403);
    expect(res.body).toContain('Only operators (sre, sre-leads) may retry jobs.');
    // The job has ended and its trail is sealed: the refusal is recorded beside it, as refused late votes are.
    const refused = (await airlock.audit.outsideTrail(jobId)).filter((e) => e.type === 'approval.refused');
    expect(refused.map((e) => [e.actor, e.data.channel, e.data.code, e.data.path])).toEqual([
      ['dave', 'console', 'not_allowed', '/console/jobs/:id/retry'],
    ]);
    // Nothing was retried.
    expect(await airlock.audit.events(operationsTrailId(jobId))).toEqual([]);
    await expect(airlock.client.workflow.getHandle(`${jobId}.retry-1`).describe()).rejects.toThrow(/not found/i);
  });

  test('an operator resolves a step by hand from the job page: a note is required; the page shows the repair', async () => {
    // A job whose undo fails: step `change`'s revert conflicts with a commit pushed on top of it.
    git = makeRepo();
    const branch = uniqueId('cf');
    gitOut(git.repo, 'branch', branch, 'main');
    const file = `${branch}.txt`;
    const outsider =
      `d=$(mktemp -d) && git clone -q -b ${branch} ${git.repo} $d && echo outsider > $d/${file} && ` +
      `git -C $d -c user.name=o -c user.email=o@localhost commit -qam outsider && git -C $d push -q origin ${branch}; ` +
      'rm -rf $d; exit 3';
    const res = await ops.inject({
      method: 'POST',
      url: '/v1/jobs',
      headers: { authorization: 'Bearer ci-test-token', 'idempotency-key': uniqueId('key') },
      payload: {
        agent: 'release-bot',
        title: 'Change and fail',
        steps: [
          {
            id: 'change',
            action: 'git.commit',
            input: { repo: git.repo, branch, message: 'Change', files: [{ path: file, content: 'x\n' }] },
          },
          { id: 'fail', action: 'shell.run', input: { argv: ['sh', '-c', outsider], cwd: '/tmp' } },
        ],
      },
    });
    expect(res.statusCode).toBe(201);
    const jobId: string = res.json().id;
    await waitForState(airlock.client.workflow.getHandle(jobId), (s) => s.status === 'compensation_failed');

    const page = await pageAs('carol-test-token', `/console/jobs/${jobId}`);
    expect(page.body).toContain(`action="/console/jobs/${jobId}/compensate"`);
    expect(page.body).toContain(`action="/console/jobs/${jobId}/resolve"`);
    expect(page.body).not.toContain(`action="/console/jobs/${jobId}/retry"`);
    const resolve = (note: string) =>
      ops.inject({
        method: 'POST',
        url: `/console/jobs/${jobId}/resolve`,
        headers: { cookie: page.cookie },
        payload: { _csrf: page.csrf, step: 'change', note },
      });
    const empty = await resolve('  ');
    expect(empty.statusCode).toBe(400);
    expect(empty.body).toContain('note: say what you did by hand');

    const done = await resolve('reverted by hand in PR #12');
    expect(done.statusCode).toBe(303);
    expect(done.headers.location).toBe(`/console/jobs/${jobId}`);
    const after = await ops.inject({
      method: 'GET',
      url: done.headers.location as string,
      headers: { cookie: cookieOf(done.headers['set-cookie']) || page.cookie },
    });
    expect(after.body).toContain('You recorded step change as undone by hand. Nothing is left to undo');
    expect(after.body).toContain('by carol');
    expect(after.body).toContain('“reverted by hand in PR #12”');
    // Nothing left to repair: no more forms.
    expect(after.body).not.toContain(`action="/console/jobs/${jobId}/resolve"`);
  });
});
