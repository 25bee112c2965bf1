/**
 * The GitHub pieces that need no Temporal server: GitHub's documented webhook signature vector, the webhook route's
 * refusals, the App's installation tokens against the stand-in, configuration errors, rate-limit delays, and the
 * policy facts of GitHub actions.
 */
import { generateKeyPairSync } from 'node:crypto';
import { Webhooks } from '@octokit/webhooks';
import Fastify from 'fastify';
import { join } from 'node:path';
import { rateLimitDelaySeconds } from '../../activities/github/client';
import { GithubRounds } from '../../approvals/github/rounds';
import { createGithubWebhooks, parseCommand } from '../../approvals/github/webhooks';
import { SeenDeliveries } from '../../approvals/seen-deliveries';
import { loadConfig } from '../../src/config';
import { actionFacts } from '../../src/core/facts';
import { createGithubClients } from '../../src/github';
import { loadPolicyFile } from '../../src/policy/load';
import { evaluatePolicy } from '../../src/policy/evaluate';
import { directory } from '../helpers/approvals';
import { testAttestor } from '../helpers/attestation';
import { githubSignature, startGithubServer } from '../helpers/github-server';
import { useTestAudit } from '../helpers/temporal';

const audit = useTestAudit();

test("GitHub's documented signature test vector verifies; the stand-in signs the same way", async () => {
  const secret = "It's a Secret to Everybody";
  const expected = 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17';
  const webhooks = new Webhooks({ secret });
  expect(await webhooks.verify('Hello, World!', expected)).toBe(true);
  expect(githubSignature(secret, 'Hello, World!')).toBe(expected);
  expect(await webhooks.verify('Hello, World?', expected)).toBe(false);
});

test('POST /github/webhooks: 401 for a missing or forged signature, 400 without the delivery headers, a delivery taken once', async () => {
  const secret = 'route-secret';
  const hooks = createGithubWebhooks({
    secret,
    temporal: {} as never, // never reached: nothing here is a vote
    directory,
    attestor: testAttestor,
    github: { forRepo: () => Promise.reject(new Error('no GitHub in this test')) },
    rounds: await GithubRounds.open(audit.store.db),
    seen: await SeenDeliveries.open(audit.store.db),
  });
  const app = Fastify();
  await hooks.register(app);
  const body = JSON.stringify({ zen: 'Keep it logically awesome.', hook_id: 1 });
  const base = await app.listen({ host: '127.0.0.1', port: 0 });
  const post = async (headers: Record<string, string>, payload = body) => {
    const res = await fetch(`${base}/github/webhooks`, {
      method: 'POST',
      body: payload,
      headers: { 'content-type': 'application/json', ...headers },
    });
    return { statusCode: res.status, json: () => res.json() };
  };
  try {
    expect((await post({ 'x-github-event': 'ping', 'x-github-delivery': 'd-1' })).statusCode).toBe(401);
    const forged = await post({
      'x-github-event': 'ping',
      'x-github-delivery': 'd-1',
      'x-hub-signature-256': githubSignature('wrong', body),
    });
    expect(forged.statusCode).toBe(401);
    // Signed over other bytes (re-serialised JSON): refused; the signature covers the raw body.
    const reserialised = await post(
      { 'x-github-event': 'ping', 'x-github-delivery': 'd-1', 'x-hub-signature-256': githubSignature(secret, body) },
      JSON.stringify(JSON.parse(body), null, 2),
    );
    expect(reserialised.statusCode).toBe(401);
    expect((await post({ 'x-hub-signature-256': githubSignature(secret, body) })).statusCode).toBe(400);
    const good = {
      'x-github-event': 'ping',
      'x-github-delivery': 'd-2',
      'x-hub-signature-256': githubSignature(secret, body),
    };
    expect(await (await post(good)).json()).toEqual({ ok: true });
    expect(await (await post(good)).json()).toEqual({ ok: true, duplicate: true });
  } finally {
    await app.close();
  }
});

test('comment commands: approve with an optional note, reject only with a reason, anything else ignored', () => {
  expect(parseCommand('/airlock approve')).toEqual({ decision: 'approve' });
  expect(parseCommand('  /Airlock APPROVE lgtm, ship it')).toEqual({ decision: 'approve', comment: 'lgtm, ship it' });
  expect(parseCommand('/airlock reject breaks the build\nsee CI')).toEqual({
    decision: 'reject',
    comment: 'breaks the build\nsee CI',
  });
  expect(parseCommand('/airlock reject')).toBe('no-reason');
  expect(parseCommand('please /airlock approve')).toBeUndefined();
  expect(parseCommand('/airlock approved')).toBeUndefined();
});

test('a GitHub App: the installation looked up per repository with the App JWT, then its installation token used', async () => {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const gh = await startGithubServer({
    app: { id: '123456', publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() },
  });
  try {
    const clients = createGithubClients({
      apiUrl: `${gh.url}/api/v3`, // as GitHub Enterprise Server serves it
      app: { id: '123456', privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() },
    });
    const octokit = await clients.forRepo('acme/app');
    expect((await octokit.rest.repos.get({ owner: 'acme', repo: 'app' })).data.default_branch).toBe('main');
    await clients.forRepo('ACME/app');
    expect(gh.count('GET', '/repos/acme/app/installation')).toBe(1);
    expect(gh.count('POST', '/app/installations/4242/access_tokens')).toBe(1);
    const repoCall = gh.calls.find((c) => c.path === '/repos/acme/app')!;
    expect(gh.installationTokens.has(repoCall.auth!.replace(/^token /, ''))).toBe(true);

    // A wrong App key is refused by GitHub: the lookup fails, and is asked again next time.
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const wrong = createGithubClients({
      apiUrl: gh.url,
      app: { id: '123456', privateKey: other.export({ type: 'pkcs8', format: 'pem' }).toString() },
    });
    await expect(wrong.forRepo('acme/app')).rejects.toMatchObject({ status: 401 });
  } finally {
    await gh.close();
  }
});

test('configuration: an App needs its key, App and token exclude each other, the webhook secret needs credentials', () => {
  expect(() => loadConfig({ GITHUB_APP_ID: '1' })).toThrow(
    /GITHUB_APP_PRIVATE_KEY: required when GITHUB_APP_ID is set/,
  );
  expect(() => loadConfig({ GITHUB_APP_ID: '1', GITHUB_APP_PRIVATE_KEY: 'k', GITHUB_TOKEN: 't' })).toThrow(
    /GITHUB_TOKEN: set either a GitHub App or a token/,
  );
  expect(() => loadConfig({ GITHUB_WEBHOOK_SECRET: 's' })).toThrow(/GITHUB_WEBHOOK_SECRET: GitHub needs/);
  expect(() => loadConfig({ GITHUB_APP_ID: 'abc' })).toThrow(/GITHUB_APP_ID: GitHub App ids are numbers/);
  expect(loadConfig({ GITHUB_TOKEN: 't', AIRLOCK_GITHUB_API_URL: 'https://ghe.example/api/v3' }).github).toEqual({
    apiUrl: 'https://ghe.example/api/v3',
    token: 't',
    webhookSecret: undefined,
    writeIntervalMs: undefined,
  });
  expect(loadConfig({}).github).toBeUndefined();
});

test('rate limits: the secondary limit waits Retry-After (60 s without one), the primary limit until its reset', () => {
  const secondary = (headers: Record<string, string>) => ({
    status: 403,
    message: 'You have exceeded a secondary rate limit.',
    response: { headers },
  });
  expect(rateLimitDelaySeconds(secondary({ 'retry-after': '7' }))).toBe(7);
  expect(rateLimitDelaySeconds(secondary({}))).toBe(60);
  const now = 1_800_000_000_000;
  expect(
    rateLimitDelaySeconds(
      {
        status: 403,
        message: 'API rate limit exceeded',
        response: { headers: { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(now / 1000 + 30) } },
      },
      now,
    ),
  ).toBe(31);
  expect(
    rateLimitDelaySeconds({
      status: 403,
      message: 'Resource not accessible by integration',
      response: { headers: {} },
    }),
  ).toBeUndefined();
  expect(rateLimitDelaySeconds({ status: 502, message: 'Server Error' })).toBeUndefined();
});

test('policy facts of GitHub actions: repo, branch, PR and changed paths, so "changes under infra/ need two SREs" is one rule', () => {
  const policy = loadPolicyFile(join(__dirname, '..', 'fixtures', 'policy-github.yaml'));
  const judge = (action: string, input: Record<string, unknown>) =>
    evaluatePolicy(
      policy,
      actionFacts({ action, input, risk: 'medium', agent: 'bot', caller: 'ci', context: {}, cost: 0 }),
    );
  const commit = (path: string) => ({ repo: 'Acme/App', branch: 'b', message: 'm', files: [{ path, content: 'x' }] });
  expect(judge('github.commit_files', commit('infra/main.tf'))).toMatchObject({
    outcome: 'require_approval',
    ruleId: 'infra-needs-two-sres',
  });
  // Spelled around: still under infra/.
  expect(judge('github.commit_files', commit('./docs/../infra//main.tf'))).toMatchObject({
    ruleId: 'infra-needs-two-sres',
  });
  expect(judge('github.commit_files', commit('docs/infra.md'))).toMatchObject({
    outcome: 'allow',
    ruleId: 'github-everyday',
  });
  const facts = actionFacts({
    action: 'github.merge_pull_request',
    input: { repo: 'Acme/App', number: 12, sha: 'a'.repeat(40) },
    risk: 'high',
    agent: 'bot',
    caller: 'ci',
    context: {},
    cost: 0,
  });
  expect(facts.github).toEqual({
    repo: 'acme/app',
    branch: '',
    base: '',
    pr: 12,
    changedPaths: [],
    ref: '',
    workflow: '',
  });
  // A workflow dispatch: which workflow, on which branch or tag.
  expect(judge('github.dispatch_workflow', { repo: 'acme/app', workflow: 'deploy.yml', ref: 'main' })).toMatchObject({
    outcome: 'require_approval',
    ruleId: 'deploy-from-main-needs-an-sre',
  });
  expect(judge('github.dispatch_workflow', { repo: 'acme/app', workflow: 'deploy.yml', ref: 'dev' })).toMatchObject({
    outcome: 'allow',
    ruleId: 'github-everyday',
  });
  // owner/name is not a local path.
  expect(facts.paths).toEqual([]);
});
