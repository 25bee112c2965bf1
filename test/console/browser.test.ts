/**
 * The web console in a real browser (Debian's headless Chromium driven by playwright-core) against the API process
 * the composition root builds, a worker on the same task queue and the real Temporal dev server: approving, being
 * refused, freezing, cancelling and retrying, and an axe-core accessibility check. Takes the README's screenshots
 * (docs/console-*.png).
 */
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Worker } from '@temporalio/worker';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import type { Airlock } from '../../src/compose';
import { makeRepo } from '../helpers/git';
import { fixture, testAirlock, useTemporalServer, workflowBundle } from '../helpers/temporal';
import { eventually } from '../helpers/wait';

const temporal = useTemporalServer();
const docs = join(__dirname, '..', '..', 'docs');
let airlock: Airlock;
let app: Awaited<ReturnType<Airlock['api']>>;
let worker: Worker;
let running: Promise<void>;
let base: string;
let browser: BrowserContext;
let page: Page;
let repo: string;
let cleanup: () => void;
/** Content-Security-Policy violations the browser reported: the console must cause none. */
const cspViolations: string[] = [];

beforeAll(async () => {
  ({ repo, cleanup } = makeRepo());
  airlock = await testAirlock(temporal.env, {
    policy: fixture('policy-console.yaml'),
    config: {
      AIRLOCK_PEOPLE_FILE: fixture('people-console.yaml'),
      AIRLOCK_DATA_DIR: mkdtempSync(join(tmpdir(), 'airlock-console-')),
      AIRLOCK_RATE_LIMIT_PER_MINUTE: '100000',
    },
  });
  app = await airlock.api();
  base = await app.listen({ host: '127.0.0.1', port: 0 });
  worker = await airlock.worker({ connection: temporal.env.nativeConnection, workflowBundle: await workflowBundle() });
  running = worker.run();
  browser = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'airlock-chromium-')), {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    viewport: { width: 1100, height: 900 },
  });
  page = browser.pages()[0] ?? (await browser.newPage());
  page.on('console', (m) => {
    if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
  });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  worker?.shutdown();
  await running;
  await app?.close();
  cleanup?.();
});

/** Submits a job over the API as the `ci` system; resolves with its id. */
async function submit(body: unknown): Promise<string> {
  const res = await fetch(`${base}/v1/jobs`, {
    method: 'POST',
    headers: {
      authorization: 'Bearer ci-test-token',
      'idempotency-key': `console-${Math.random()}`,
      'content-type': 'application/json',
    },
    body: JSON.stringify(body),
  });
  const json = (await res.json()) as { id: string };
  expect(res.status).toBe(201);
  return json.id;
}

const statusOf = async (id: string) =>
  (await airlock.client.workflow.getHandle(id).query('jobState')) as never as {
    status: string;
    approvals: { votes: unknown[] }[];
  };
const waitForStatus = (id: string, status: string) =>
  eventually(async () => (await statusOf(id)).status === status, `job ${id} to be ${status}`);

/** A job that merges a branch: the merge needs an SRE's approval, and what came before has a rollback plan. */
const shipJob = (branch: string) => ({
  agent: 'release-bot',
  title: `Ship ${branch}`,
  budget: { maxActions: 5, maxCost: 10 },
  steps: [
    { id: 'branch', action: 'git.create_branch', input: { repo, branch, from: 'main' } },
    {
      id: 'bump',
      action: 'git.commit',
      input: { repo, branch, message: `Bump ${branch}`, files: [{ path: `${branch}.txt`, content: 'x\n' }] },
    },
    { id: 'merge', action: 'git.merge', input: { repo, source: branch, target: 'main' } },
  ],
});

async function signInAs(who: 'alice' | 'carol' | 'dave', next = '/console') {
  await browser.clearCookies();
  await page.goto(`${base}${next}`);
  expect(page.url()).toContain('/console/sign-in');
  await page.getByLabel('Your token').fill(`${who}-test-token`);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL((u) => !u.pathname.endsWith('/sign-in'));
}

/** axe-core, injected into the page; the serious and critical violations. */
async function axe(p: Page) {
  const source = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
  await p.evaluate(source);
  // A string, evaluated in the page: the test's own code is compiled without the DOM's types.
  const result = (await p.evaluate(
    `axe.run(document, { resultTypes: ['violations'] })
      .then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help })))`,
  )) as { id: string; impact: string; help: string }[];
  return result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

async function auditEvents(jobId: string) {
  return airlock.audit.events(jobId);
}

test('an approver signs in, sees the request with its rollback plan, approves, and the job page turns succeeded live', async () => {
  const id = await submit(shipJob('console-ship'));
  await waitForStatus(id, 'awaiting_approval');

  await signInAs('alice');
  expect(new URL(page.url()).pathname).toBe('/console');
  const request = page.locator('article.request', { hasText: 'Ship console-ship' });
  await expect(request.count()).resolves.toBe(1);
  const text = await request.innerText();
  expect(text).toContain('git.merge');
  expect(text).toContain('merge-needs-an-sre');
  expect(text).toContain('0 of 1 approvals needed');
  expect(text).toMatch(/sha256:[0-9a-f]{64}/);
  // The rollback plan, in the order it would run.
  expect(text).toMatch(
    /If this is rejected, Airlock undoes\s+step bump \(git\.commit\)[\s\S]*step branch \(git\.create_branch\)/,
  );
  expect(await request.locator('time[data-countdown]').innerText()).toMatch(/^in (59|60) minutes|^in 1 hour/);
  expect(await axe(page)).toEqual([]);
  mkdirSync(docs, { recursive: true });
  await page.screenshot({ path: join(docs, 'console-inbox.png'), fullPage: true });

  await request.getByRole('button', { name: 'Approve' }).click();
  await page.waitForURL(`**/console/jobs/${id}`);
  expect(await page.locator('.flash').innerText()).toContain('You approved step merge');
  // From here on, no navigation: the page's script brings the new status in.
  let navigations = 0;
  page.on('framenavigated', (f) => {
    if (f === page.mainFrame()) navigations++;
  });
  await page.locator('[data-status="succeeded"]').waitFor({ timeout: 30_000 });
  expect(navigations).toBe(0);
  const job = await page.locator('main').innerText();
  expect(job).toContain('alice approved through console');
  expect(job).toContain('everyday'); // the rule that allowed the first steps
  await page.locator('.badge-ok', { hasText: 'Verified' }).waitFor();
  // The trail's last event (job.finished, which signs the head) arrives without a reload too.
  await page.getByText(/\d+ events, chain intact, head signed/).waitFor({ timeout: 30_000 });
  expect(navigations).toBe(0);
  expect(job).toContain('Cost: 0 of at most 10');
  expect(await page.getByRole('link', { name: 'Open this workflow in the Temporal UI' }).getAttribute('href')).toBe(
    `http://localhost:8233/namespaces/default/workflows/${id}`,
  );
  expect(await axe(page)).toEqual([]);
  await page.screenshot({ path: join(docs, 'console-job.png'), fullPage: true });

  // The vote is the console channel's attestation of alice.
  const vote = (await auditEvents(id)).find((e) => e.type === 'approval.vote')!;
  expect(vote.data).toMatchObject({
    approver: 'alice',
    channel: 'console',
    attestation: { payload: { person: 'alice', channel: 'console', channelIdentity: 'console:alice' } },
  });
  expect(cspViolations).toEqual([]);
});

test('someone outside the approver groups sees no Approve button; forged posts are refused and audited', async () => {
  const id = await submit(shipJob('console-forged'));
  await waitForStatus(id, 'awaiting_approval');
  const requestId = `${id}:merge`;

  // Alice's page gives a real CSRF token (hers) and the digest.
  await signInAs('alice');
  const form = page.locator('article.request', { hasText: 'Ship console-forged' }).locator('form').first();
  const aliceToken = (await form.locator('input[name="_csrf"]').getAttribute('value'))!;
  const digest = (await form.locator('input[name="digest"]').getAttribute('value'))!;

  await signInAs('dave');
  expect(await page.getByRole('button', { name: 'Approve' }).count()).toBe(0);
  expect(await page.locator('main').innerText()).toContain('Nothing is waiting for you');
  await page.goto(`${base}/console/jobs/${id}`);
  expect(await page.getByRole('button', { name: 'Approve' }).count()).toBe(0);
  expect(await page.locator('main').innerText()).toContain('Only members of sre may decide this request.');

  const post = (fields: Record<string, string>) =>
    page.request.post(`${base}/console/approvals/${encodeURIComponent(requestId)}/decision`, {
      form: { decision: 'approve', digest, ...fields },
      maxRedirects: 0,
    });
  const noToken = await post({});
  expect(noToken.status()).toBe(403);
  expect(await noToken.text()).toContain('did not carry a valid security token');
  const alices = await post({ _csrf: aliceToken });
  expect(alices.status()).toBe(403);
  // Dave's own, valid token: the workflow's check refuses him, in words.
  const davesToken = (await page.locator('input[name="_csrf"]').first().getAttribute('value'))!;
  const his = await post({ _csrf: davesToken });
  expect(his.status()).toBe(403);
  expect(await his.text()).toContain('You are not one of the people this request asks.');

  const refused = (await auditEvents(id)).filter((e) => e.type === 'approval.refused');
  expect(refused.map((e) => [e.actor, e.data.channel, e.data.code])).toEqual([
    ['dave', 'console', 'csrf_refused'],
    ['dave', 'console', 'csrf_refused'],
    ['dave', 'console', 'not_in_group'],
  ]);
  const state = await statusOf(id);
  expect(state.status).toBe('awaiting_approval');
  expect(state.approvals[0].votes).toEqual([]);
  await airlock.client.workflow.getHandle(id).cancel();
});

test('an operator freezes an agent and its running job shows as frozen', async () => {
  // The first step runs until the test opens its gate, after the freeze: however slow the machine, the job cannot
  // finish before it is frozen.
  const gate = join(mkdtempSync(join(tmpdir(), 'airlock-gate-')), 'open');
  const id = await submit({
    agent: 'deploy-bot',
    title: 'Deploy slowly',
    steps: [
      {
        id: 'warm',
        action: 'shell.run',
        input: { argv: ['sh', '-c', `until [ -e '${gate}' ]; do sleep 0.1; done`], cwd: '/tmp' },
      },
      { id: 'go', action: 'shell.run', input: { argv: ['true'], cwd: '/tmp' } },
    ],
  });
  await waitForStatus(id, 'running');

  // Dave is no operator: no freeze switch for him.
  await signInAs('dave', '/console/agents');
  expect(await page.getByRole('button', { name: /^Freeze/ }).count()).toBe(0);

  await signInAs('carol', '/console/agents');
  const agent = page.locator('section#agent-deploy-bot');
  await agent.getByLabel('Why freeze deploy-bot (required)').fill('bad deploys this morning');
  await agent.getByLabel('Pause until the freeze is lifted').check();
  await agent.getByRole('button', { name: 'Freeze deploy-bot' }).click();
  await page.waitForURL('**/console/agents**');
  expect(await page.locator('.flash').innerText()).toContain('You froze deploy-bot');
  writeFileSync(gate, '');

  await page.goto(`${base}/console/jobs/${id}`);
  await page.locator('[data-status="frozen"]').waitFor({ timeout: 30_000 });
  expect(await page.locator('main').innerText()).toContain('Frozen by carol');

  // On call lists it, and the operator cancels it there.
  await page.goto(`${base}/console/on-call`);
  const item = page.locator('li', { hasText: 'Deploy slowly' });
  await item.getByRole('button', { name: 'Cancel Deploy slowly' }).click();
  await page.waitForURL(`**/console/jobs/${id}`);
  await page.locator('[data-status="cancelled"]').waitFor({ timeout: 30_000 });
  await airlock.freeze.unfreeze('deploy-bot');

  // Cancelled, so the operator may retry it: one click starts a new job, whose page links the original.
  expect(await axe(page)).toEqual([]);
  await page.getByRole('button', { name: 'Retry Deploy slowly' }).click();
  await page.waitForURL(`**/console/jobs/${id}.retry-1`);
  expect(await page.locator('.flash').innerText()).toContain(`You retried job ${id} as this new job, ${id}.retry-1.`);
  expect(await page.getByRole('link', { name: id, exact: true }).getAttribute('href')).toBe(`/console/jobs/${id}`);
  expect(cspViolations).toEqual([]);
});
