/**
 * A local stand-in for GitHub, written from GitHub's REST and webhook documentation: it serves the routes Octokit
 * calls for one in-memory repository (Git Data API blobs, trees, commits and refs; pull requests and their merge;
 * issue comments; reviews; check runs with requested actions; labels, reviewers; file contents; workflows, their
 * dispatches (a run titled from the file's run-name) and runs list; App installation tokens), sends webhooks signed exactly as GitHub signs them (X-Hub-Signature-256: `sha256=` HMAC-SHA256
 * of the raw body with the webhook secret; X-GitHub-Event; X-GitHub-Delivery), counts every side effect it receives,
 * and injects faults (5xx; the secondary rate limit's 403 with Retry-After).
 *
 * What a human does on GitHub (a review, a comment, a click on a check run's button, a push) is a method that changes
 * the model and sends the webhook GitHub would send.
 */
import { createHash, createHmac, createPublicKey, randomUUID, verify, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parse as parseYaml } from 'yaml';

export interface GithubCall {
  method: string;
  path: string;
  body: Record<string, unknown>;
  status: number;
  auth?: string;
  /** When it was received (ms since the epoch). */
  at: number;
}

interface Commit {
  sha: string;
  message: string;
  tree: string;
  parents: string[];
}
interface Pull {
  number: number;
  id: number;
  title: string;
  body: string;
  state: 'open' | 'closed';
  merged: boolean;
  merge_commit_sha: string | null;
  head: string;
  base: string;
  /** The head commit when the branch is gone. */
  lastHeadSha: string;
  user: string;
  labels: string[];
  requested_reviewers: string[];
}
interface Comment {
  id: number;
  issue_number: number;
  body: string;
  login: string;
  type: 'User' | 'Bot';
}
interface Review {
  id: number;
  pull_number: number;
  state: string;
  body: string;
  login: string;
  commit_id: string;
}
interface CheckRun {
  id: number;
  name: string;
  head_sha: string;
  status: string;
  conclusion: string | null;
  external_id?: string;
  details_url?: string;
  output?: { title?: string; summary?: string; text?: string };
  actions: { label: string; description: string; identifier: string }[];
}

interface Workflow {
  id: number;
  name: string;
  path: string;
}
interface WorkflowRun {
  id: number;
  workflow_id: number;
  name: string;
  display_title: string;
  event: string;
  head_branch: string;
  head_sha: string;
  status: string;
  conclusion: string | null;
  run_number: number;
  created_at: string;
  html_url: string;
}

/** A route that acts at once but answers only after `delayMs`: a caller killed meanwhile never hears of it. */
interface Slow {
  match: (method: string, path: string) => boolean;
  times: number;
  delayMs: number;
}

interface Fault {
  match: (method: string, path: string) => boolean;
  times: number;
  status: number;
  headers?: Record<string, string>;
  body: Record<string, unknown>;
}

export interface GithubServerOptions {
  owner?: string;
  repo?: string;
  /** The personal access token that is accepted (plain-token mode). */
  token?: string;
  /** GitHub App mode: the App's id and its public key, to verify the App JWT as GitHub does (RS256, iss = app id). */
  app?: { id: string; publicKeyPem: string; installationId?: number };
  /** Where webhooks go, and the secret they are signed with (settable later). */
  webhookUrl?: string;
  webhookSecret?: string;
  /** The bot login Airlock's own comments appear under. */
  botLogin?: string;
}

const gitSha = (kind: string, content: string) =>
  createHash('sha1')
    .update(`${kind} ${Buffer.byteLength(content)}\0${content}`)
    .digest('hex');

/** GitHub's webhook signature: `sha256=` + hex HMAC-SHA256 of the raw body (docs: "Validating webhook deliveries"). */
export function githubSignature(secret: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

export async function startGithubServer(opts: GithubServerOptions = {}) {
  const owner = opts.owner ?? 'acme';
  const repoName = opts.repo ?? 'app';
  const fullName = `${owner}/${repoName}`;
  const botLogin = opts.botLogin ?? 'airlock[bot]';
  const appKey: KeyObject | undefined = opts.app ? createPublicKey(opts.app.publicKeyPem) : undefined;
  const installationId = opts.app?.installationId ?? 4242;

  const blobs = new Map<string, string>();
  const trees = new Map<string, Record<string, string>>(); // path → blob sha, flattened
  const commits = new Map<string, Commit>();
  const refs = new Map<string, string>(); // 'heads/main' → sha
  const pulls = new Map<number, Pull>();
  const comments = new Map<number, Comment>();
  const reviews: Review[] = [];
  const checkRuns = new Map<number, CheckRun>();
  const dispatches: { workflow: string; ref: string; inputs: unknown }[] = [];
  const workflows = new Map<number, Workflow>();
  /** Runs as the runs list shows them; a dispatched run shows up only after runDelay.ms (never when hidden). */
  const workflowRuns: WorkflowRun[] = [];
  const runDelay = { ms: 0, hidden: false };
  /** Workflow runs waiting on a deployment protection rule: run id → environments not yet answered. */
  const waitingRuns = new Map<number, Set<string>>();
  /** Every answer received on a deployment_callback_url, in order (a second answer is refused, and not listed). */
  const deploymentAnswers: { runId: number; environment: string; state: string; comment: string; at: number }[] = [];
  const installationTokens = new Set<string>();
  const calls: GithubCall[] = [];
  const faults: Fault[] = [];
  const slows: Slow[] = [];
  const deliveries: { id: string; event: string; status: number; raw: string; signature?: string }[] = [];
  let nextId = 1000;
  let commitSalt = 0;
  const state = { webhookUrl: opts.webhookUrl, webhookSecret: opts.webhookSecret };

  const addTree = (files: Record<string, string>) => {
    const sha = gitSha('tree', JSON.stringify(Object.entries(files).sort()));
    trees.set(sha, files);
    return sha;
  };
  const addCommit = (message: string, tree: string, parents: string[]) => {
    const sha = gitSha('commit', JSON.stringify({ message, tree, parents, salt: ++commitSalt }));
    commits.set(sha, { sha, message, tree, parents });
    return sha;
  };
  // The repository starts with one commit on main.
  const readme = gitSha('blob', '# app\n');
  blobs.set(readme, '# app\n');
  refs.set('heads/main', addCommit('Initial commit', addTree({ 'README.md': readme }), []));

  const headSha = (p: Pull) => refs.get(`heads/${p.head}`) ?? p.lastHeadSha;
  const repoJson = () => ({
    id: 1,
    name: repoName,
    full_name: fullName,
    owner: { login: owner, type: 'Organization' },
    default_branch: 'main',
    private: true,
  });
  const user = (login: string, type: 'User' | 'Bot' = login.endsWith('[bot]') ? 'Bot' : 'User') => ({
    login,
    id: Math.abs([...login].reduce((h, c) => (h * 31 + c.charCodeAt(0)) | 0, 7)),
    type,
  });
  const pullJson = (p: Pull) => ({
    id: p.id,
    number: p.number,
    node_id: `PR_${p.number}`,
    html_url: `https://github.test/${fullName}/pull/${p.number}`,
    url: `https://api.github.test/repos/${fullName}/pulls/${p.number}`,
    state: p.state,
    title: p.title,
    body: p.body,
    merged: p.merged,
    merged_at: p.merged ? new Date().toISOString() : null,
    merge_commit_sha: p.merge_commit_sha,
    mergeable: p.state === 'open' ? true : null,
    user: user(p.user),
    head: { ref: p.head, sha: headSha(p), label: `${owner}:${p.head}`, repo: repoJson() },
    base: { ref: p.base, sha: refs.get(`heads/${p.base}`), label: `${owner}:${p.base}`, repo: repoJson() },
    labels: p.labels.map((name) => ({ name })),
    requested_reviewers: p.requested_reviewers.map((l) => user(l)),
  });
  const commentJson = (c: Comment) => ({
    id: c.id,
    body: c.body,
    user: user(c.login, c.type),
    html_url: `https://github.test/${fullName}/pull/${c.issue_number}#issuecomment-${c.id}`,
    issue_url: `https://api.github.test/repos/${fullName}/issues/${c.issue_number}`,
  });
  const checkRunJson = (r: CheckRun) => ({
    ...r,
    pull_requests: [...pulls.values()]
      .filter((p) => headSha(p) === r.head_sha)
      .map((p) => ({ number: p.number, head: { ref: p.head, sha: r.head_sha }, base: { ref: p.base } })),
    app: { slug: 'airlock' },
  });
  const commitJson = (c: Commit) => ({
    sha: c.sha,
    message: c.message,
    tree: { sha: c.tree },
    parents: c.parents.map((sha) => ({ sha })),
  });

  class HttpFailure extends Error {
    constructor(
      readonly status: number,
      message: string,
      readonly extra: Record<string, unknown> = {},
    ) {
      super(message);
    }
  }
  const fail = (status: number, message: string, extra?: Record<string, unknown>): never => {
    throw new HttpFailure(status, message, extra);
  };
  const need = <T>(value: T | undefined, what: string): T => value ?? fail(404, `Not Found: ${what}`);

  /** Who is calling: the PAT, an installation token, or (for App routes) a valid App JWT. */
  const authorise = (path: string, header: string | undefined) => {
    const credential = /^(?:token|bearer)\s+(\S+)$/i.exec(header ?? '')?.[1];
    if (!credential) fail(401, 'Requires authentication');
    const appRoute = path.startsWith('/app/') || path === `/repos/${fullName}/installation`;
    if (appRoute) {
      if (!appKey) fail(401, 'Bad credentials');
      const [h, p, s] = credential!.split('.');
      const ok = s && verify('RSA-SHA256', Buffer.from(`${h}.${p}`), appKey!, Buffer.from(s, 'base64url'));
      const claims = ok ? JSON.parse(Buffer.from(p, 'base64url').toString()) : {};
      if (!ok || String(claims.iss) !== opts.app!.id || claims.exp * 1000 < Date.now())
        fail(401, 'A JSON web token could not be decoded');
      return;
    }
    if (credential === opts.token || installationTokens.has(credential!)) return;
    fail(401, 'Bad credentials');
  };

  type Handler = (m: string[], body: Record<string, unknown>, query: URLSearchParams) => [number, unknown];
  const R = `/repos/${owner}/${repoName}`;
  const routes: [string, RegExp, Handler][] = [
    [
      'POST',
      /^\/app\/installations\/(\d+)\/access_tokens$/,
      (m) => {
        if (Number(m[1]) !== installationId) fail(404, 'Not Found');
        const token = `ghs_${randomUUID().replace(/-/g, '')}`;
        installationTokens.add(token);
        return [
          201,
          {
            token,
            expires_at: new Date(Date.now() + 3600_000).toISOString(),
            permissions: {},
            repository_selection: 'all',
          },
        ];
      },
    ],
    ['GET', new RegExp(`^${R}/installation$`), () => [200, { id: installationId, app_id: Number(opts.app?.id) }]],
    ['GET', new RegExp(`^${R}$`), () => [200, repoJson()]],
    [
      'GET',
      new RegExp(`^${R}/git/ref/(.+)$`),
      (m) => {
        const sha = need(refs.get(decodeURIComponent(m[1])), `ref ${m[1]}`);
        return [200, { ref: `refs/${decodeURIComponent(m[1])}`, object: { sha, type: 'commit' } }];
      },
    ],
    [
      'POST',
      new RegExp(`^${R}/git/refs$`),
      (_m, b) => {
        const ref = String(b.ref ?? '');
        if (!ref.startsWith('refs/')) fail(422, 'Reference name must start with refs/');
        if (!commits.has(String(b.sha))) fail(422, 'Object does not exist');
        if (refs.has(ref.slice(5))) fail(422, 'Reference already exists');
        refs.set(ref.slice(5), String(b.sha));
        return [201, { ref, object: { sha: b.sha, type: 'commit' } }];
      },
    ],
    [
      'PATCH',
      new RegExp(`^${R}/git/refs/(.+)$`),
      (m, b) => {
        const ref = decodeURIComponent(m[1]);
        const old = need(refs.get(ref), `ref ${ref}`);
        const sha = String(b.sha);
        if (!commits.has(sha)) fail(422, 'Object does not exist');
        if (!b.force && !isAncestor(old, sha)) fail(422, 'Update is not a fast forward');
        refs.set(ref, sha);
        return [200, { ref: `refs/${ref}`, object: { sha, type: 'commit' } }];
      },
    ],
    [
      'DELETE',
      new RegExp(`^${R}/git/refs/(.+)$`),
      (m) => {
        const ref = decodeURIComponent(m[1]);
        if (!refs.delete(ref)) fail(422, 'Reference does not exist');
        return [204, undefined];
      },
    ],
    [
      'POST',
      new RegExp(`^${R}/git/blobs$`),
      (_m, b) => {
        const content =
          b.encoding === 'base64' ? Buffer.from(String(b.content), 'base64').toString('utf8') : String(b.content);
        const sha = gitSha('blob', content);
        blobs.set(sha, content);
        return [201, { sha, url: `${R}/git/blobs/${sha}` }];
      },
    ],
    [
      'POST',
      new RegExp(`^${R}/git/trees$`),
      (_m, b) => {
        const base = b.base_tree ? need(trees.get(String(b.base_tree)), 'base_tree') : {};
        const files = { ...base };
        for (const e of (b.tree as { path: string; sha?: string | null; content?: string }[]) ?? []) {
          if (e.sha === null) delete files[e.path];
          else if (e.content !== undefined) {
            const sha = gitSha('blob', e.content);
            blobs.set(sha, e.content);
            files[e.path] = sha;
          } else files[e.path] = need(blobs.has(e.sha!) ? e.sha : undefined, `blob ${e.sha}`)!;
        }
        return [201, { sha: addTree(files), tree: Object.keys(files).map((path) => ({ path, type: 'blob' })) }];
      },
    ],
    [
      'GET',
      new RegExp(`^${R}/git/commits/([0-9a-f]{40})$`),
      (m) => [200, commitJson(need(commits.get(m[1]), 'commit'))],
    ],
    [
      'POST',
      new RegExp(`^${R}/git/commits$`),
      (_m, b) => {
        if (!trees.has(String(b.tree))) fail(422, 'Tree SHA does not exist');
        const parents = ((b.parents as string[]) ?? []).map((p) => need(commits.has(p) ? p : undefined, `parent ${p}`));
        return [201, commitJson(commits.get(addCommit(String(b.message), String(b.tree), parents))!)];
      },
    ],
    [
      'GET',
      new RegExp(`^${R}/pulls$`),
      (_m, _b, q) => {
        const list = [...pulls.values()].filter(
          (p) =>
            (q.get('state') === 'all' || p.state === (q.get('state') ?? 'open')) &&
            (!q.get('head') || `${owner}:${p.head}` === q.get('head')) &&
            (!q.get('base') || p.base === q.get('base')),
        );
        return [200, list.map(pullJson)];
      },
    ],
    [
      'POST',
      new RegExp(`^${R}/pulls$`),
      (_m, b) => {
        const head = String(b.head).replace(`${owner}:`, '');
        const base = String(b.base);
        if (!refs.has(`heads/${head}`))
          fail(422, 'Validation Failed', { errors: [{ field: 'head', code: 'invalid' }] });
        if (!refs.has(`heads/${base}`))
          fail(422, 'Validation Failed', { errors: [{ field: 'base', code: 'invalid' }] });
        if ([...pulls.values()].some((p) => p.state === 'open' && p.head === head && p.base === base))
          fail(422, 'Validation Failed', {
            errors: [
              {
                resource: 'PullRequest',
                code: 'custom',
                message: `A pull request already exists for ${owner}:${head}.`,
              },
            ],
          });
        const number = pulls.size + 1;
        const p: Pull = {
          number,
          id: ++nextId,
          title: String(b.title),
          body: String(b.body ?? ''),
          state: 'open',
          merged: false,
          merge_commit_sha: null,
          head,
          base,
          lastHeadSha: refs.get(`heads/${head}`)!,
          user: botLogin,
          labels: [],
          requested_reviewers: [],
        };
        pulls.set(number, p);
        return [201, pullJson(p)];
      },
    ],
    ['GET', new RegExp(`^${R}/pulls/(\\d+)$`), (m) => [200, pullJson(need(pulls.get(Number(m[1])), 'pull'))]],
    [
      'PATCH',
      new RegExp(`^${R}/pulls/(\\d+)$`),
      (m, b) => {
        const p = need(pulls.get(Number(m[1])), 'pull');
        if (b.state === 'closed' || b.state === 'open') {
          if (p.merged && b.state === 'open') fail(422, 'Cannot reopen a merged pull request');
          p.lastHeadSha = headSha(p);
          p.state = b.state;
        }
        if (typeof b.title === 'string') p.title = b.title;
        if (typeof b.body === 'string') p.body = b.body;
        return [200, pullJson(p)];
      },
    ],
    [
      'PUT',
      new RegExp(`^${R}/pulls/(\\d+)/merge$`),
      (m, b) => {
        const p = need(pulls.get(Number(m[1])), 'pull');
        if (p.merged) fail(405, 'Pull Request is not mergeable');
        if (p.state !== 'open') fail(405, 'Pull Request is not mergeable');
        const head = headSha(p);
        if (b.sha !== undefined && b.sha !== head)
          fail(409, 'Head branch was modified. Review and try the merge again.');
        const base = refs.get(`heads/${p.base}`)!;
        const message = `${b.commit_title ?? `Merge pull request #${p.number} from ${owner}/${p.head}`}\n\n${b.commit_message ?? ''}`;
        const sha = addCommit(message.trim(), commits.get(head)!.tree, [base, head]);
        refs.set(`heads/${p.base}`, sha);
        p.merged = true;
        p.state = 'closed';
        p.merge_commit_sha = sha;
        p.lastHeadSha = head;
        return [200, { sha, merged: true, message: 'Pull Request successfully merged' }];
      },
    ],
    [
      'GET',
      new RegExp(`^${R}/issues/(\\d+)/comments$`),
      (m) => [200, [...comments.values()].filter((c) => c.issue_number === Number(m[1])).map(commentJson)],
    ],
    [
      'POST',
      new RegExp(`^${R}/issues/(\\d+)/comments$`),
      (m, b) => {
        need(pulls.get(Number(m[1])), 'issue');
        const c: Comment = {
          id: ++nextId,
          issue_number: Number(m[1]),
          body: String(b.body),
          login: botLogin,
          type: 'Bot',
        };
        comments.set(c.id, c);
        return [201, commentJson(c)];
      },
    ],
    [
      'PATCH',
      new RegExp(`^${R}/issues/comments/(\\d+)$`),
      (m, b) => {
        const c = need(comments.get(Number(m[1])), 'comment');
        c.body = String(b.body);
        return [200, commentJson(c)];
      },
    ],
    [
      'POST',
      new RegExp(`^${R}/issues/(\\d+)/labels$`),
      (m, b) => {
        const p = need(pulls.get(Number(m[1])), 'issue');
        for (const l of (b.labels as string[]) ?? []) if (!p.labels.includes(l)) p.labels.push(l);
        return [200, p.labels.map((name) => ({ name }))];
      },
    ],
    [
      'POST',
      new RegExp(`^${R}/pulls/(\\d+)/requested_reviewers$`),
      (m, b) => {
        const p = need(pulls.get(Number(m[1])), 'pull');
        for (const l of (b.reviewers as string[]) ?? [])
          if (!p.requested_reviewers.includes(l)) p.requested_reviewers.push(l);
        return [201, pullJson(p)];
      },
    ],
    [
      'GET',
      new RegExp(`^${R}/pulls/(\\d+)/reviews$`),
      (m) => [200, reviews.filter((r) => r.pull_number === Number(m[1]))],
    ],
    [
      'POST',
      new RegExp(`^${R}/check-runs$`),
      (_m, b) => {
        const r: CheckRun = {
          id: ++nextId,
          name: String(b.name),
          head_sha: String(b.head_sha),
          status: String(b.status ?? 'queued'),
          conclusion: (b.conclusion as string) ?? null,
          external_id: b.external_id as string | undefined,
          details_url: b.details_url as string | undefined,
          output: b.output as CheckRun['output'],
          actions: (b.actions as CheckRun['actions']) ?? [],
        };
        if (r.actions.length > 3) fail(422, 'Validation Failed: at most 3 actions');
        checkRuns.set(r.id, r);
        return [201, checkRunJson(r)];
      },
    ],
    [
      'PATCH',
      new RegExp(`^${R}/check-runs/(\\d+)$`),
      (m, b) => {
        const r = need(checkRuns.get(Number(m[1])), 'check run');
        for (const k of ['status', 'conclusion', 'output', 'actions', 'external_id', 'details_url'] as const)
          if (b[k] !== undefined) (r as unknown as Record<string, unknown>)[k] = b[k];
        if (b.conclusion) r.status = 'completed';
        return [200, checkRunJson(r)];
      },
    ],
    [
      'GET',
      new RegExp(`^${R}/commits/([^/]+)/check-runs$`),
      (m, _b, q) => {
        const sha = refs.get(`heads/${decodeURIComponent(m[1])}`) ?? m[1];
        const list = [...checkRuns.values()].filter(
          (r) => r.head_sha === sha && (!q.get('check_name') || r.name === q.get('check_name')),
        );
        return [200, { total_count: list.length, check_runs: list.map(checkRunJson) }];
      },
    ],
    [
      'GET',
      new RegExp(`^${R}/actions/runs/(\\d+)/pending_deployments$`),
      (m) => [
        200,
        [...(waitingRuns.get(Number(m[1])) ?? [])].map((name) => ({
          environment: { id: 1, name },
          wait_timer: 0,
          current_user_can_approve: false,
          reviewers: [],
        })),
      ],
    ],
    [
      'POST',
      new RegExp(`^${R}/actions/runs/(\\d+)/deployment_protection_rule$`),
      (m, b) => {
        const runId = Number(m[1]);
        const environment = String(b.environment_name ?? '');
        if (b.state !== 'approved' && b.state !== 'rejected') fail(422, 'Validation Failed: state');
        // GitHub takes one answer per environment of a run.
        if (!waitingRuns.get(runId)?.delete(environment)) fail(422, `No pending deployment for ${environment}`);
        deploymentAnswers.push({
          runId,
          environment,
          state: String(b.state),
          comment: String(b.comment ?? ''),
          at: Date.now(),
        });
        return [204, undefined];
      },
    ],
    [
      'GET',
      new RegExp(`^${R}/contents/(.+)$`),
      (m, _b, q) => {
        const path = decodeURIComponent(m[1]);
        const ref = q.get('ref') ?? 'main';
        const sha = need(
          refs.get(`heads/${ref}`) ?? refs.get(`tags/${ref}`) ?? (commits.has(ref) ? ref : undefined),
          ref,
        );
        const blob = need(trees.get(commits.get(sha)!.tree)![path], path);
        const content = Buffer.from(blobs.get(blob)!).toString('base64');
        return [200, { type: 'file', encoding: 'base64', path, name: path.split('/').pop(), sha: blob, content }];
      },
    ],
    ['GET', new RegExp(`^${R}/actions/workflows/([^/]+)$`), (m) => [200, workflowJson(findWorkflow(m[1]))]],
    [
      'GET',
      new RegExp(`^${R}/actions/workflows/([^/]+)/runs$`),
      (m, _b, q) => {
        const wf = findWorkflow(m[1]);
        const list = workflowRuns
          .filter(
            (r) =>
              r.workflow_id === wf.id &&
              (!q.get('event') || r.event === q.get('event')) &&
              (!q.get('branch') || r.head_branch === q.get('branch')),
          )
          .sort((a, b) => b.id - a.id);
        const perPage = Number(q.get('per_page') ?? 30);
        const page = Number(q.get('page') ?? 1);
        return [200, { total_count: list.length, workflow_runs: list.slice((page - 1) * perPage, page * perPage) }];
      },
    ],
    [
      // As GitHub does (docs: "Create a workflow dispatch event"): the workflow file at `ref` must have a
      // workflow_dispatch trigger; inputs it does not declare are refused (422 "Unexpected inputs provided"), required
      // ones must be given; the run's display_title is the file's run-name with its expressions evaluated, else the
      // workflow's name. Answers 204 with no run id.
      'POST',
      new RegExp(`^${R}/actions/workflows/([^/]+)/dispatches$`),
      (m, b) => {
        const wf = findWorkflow(m[1]);
        const ref = String(b.ref ?? '');
        const sha = refs.get(`heads/${ref}`) ?? refs.get(`tags/${ref}`) ?? fail(422, `No ref found for: ${ref}`);
        const blob = trees.get(commits.get(sha)!.tree)![wf.path];
        const doc = blob ? (parseYaml(blobs.get(blob)!) as Record<string, unknown>) : {};
        const on = doc.on;
        const trigger =
          typeof on === 'string'
            ? on === 'workflow_dispatch' && {}
            : Array.isArray(on)
              ? on.includes('workflow_dispatch') && {}
              : (on as Record<string, unknown> | undefined)?.workflow_dispatch;
        if (trigger === undefined || trigger === false) fail(422, "Workflow does not have 'workflow_dispatch' trigger");
        const declared = ((trigger as { inputs?: Record<string, { required?: boolean; default?: unknown }> } | null)
          ?.inputs ?? {}) as Record<string, { required?: boolean; default?: unknown } | null>;
        const given = (b.inputs ?? {}) as Record<string, unknown>;
        const unexpected = Object.keys(given).filter((k) => !(k in declared));
        if (unexpected.length) fail(422, `Unexpected inputs provided: ${JSON.stringify(unexpected)}`);
        const inputs: Record<string, string> = {};
        for (const [k, spec] of Object.entries(declared)) {
          if (k in given) inputs[k] = String(given[k]);
          else if (spec?.default !== undefined) inputs[k] = String(spec.default);
          else if (spec?.required) fail(422, `Required input '${k}' not provided`);
          else inputs[k] = '';
        }
        dispatches.push({ workflow: decodeURIComponent(m[1]), ref, inputs: b.inputs });
        const expr = (e: string) => {
          const input = /^(?:github\.event\.)?inputs\.([A-Za-z_][\w-]*)$/.exec(e.trim());
          if (input) return inputs[input[1]] ?? '';
          if (e.trim() === 'github.ref_name') return ref;
          return ''; // other contexts are not modelled
        };
        const runName = typeof doc['run-name'] === 'string' ? doc['run-name'] : undefined;
        const id = ++nextId;
        const run: WorkflowRun = {
          id,
          workflow_id: wf.id,
          name: wf.name,
          display_title: runName ? runName.replace(/\$\{\{(.*?)\}\}/g, (_all, e: string) => expr(e)) : wf.name,
          event: 'workflow_dispatch',
          head_branch: ref,
          head_sha: sha,
          status: 'queued',
          conclusion: null,
          run_number: workflowRuns.filter((r) => r.workflow_id === wf.id).length + 1,
          created_at: new Date().toISOString(),
          html_url: `https://github.test/${fullName}/actions/runs/${id}`,
        };
        if (!runDelay.hidden)
          if (runDelay.ms > 0) setTimeout(() => workflowRuns.push(run), runDelay.ms).unref();
          else workflowRuns.push(run);
        return [204, undefined];
      },
    ],
  ];

  /** A workflow by its id or its file name (`deploy.yml`), as the Actions API takes either. */
  const findWorkflow = (idOrFile: string): Workflow => {
    const key = decodeURIComponent(idOrFile);
    const wf = [...workflows.values()].find((w) => String(w.id) === key || w.path.split('/').pop() === key);
    return need(wf, `workflow ${key}`);
  };
  const workflowJson = (w: Workflow) => ({
    id: w.id,
    node_id: `W_${w.id}`,
    name: w.name,
    path: w.path,
    state: 'active',
    html_url: `https://github.test/${fullName}/blob/main/${w.path}`,
  });

  const isAncestor = (ancestor: string, sha: string): boolean => {
    const seen = new Set<string>();
    const todo = [sha];
    while (todo.length) {
      const s = todo.pop()!;
      if (s === ancestor) return true;
      if (seen.has(s)) continue;
      seen.add(s);
      todo.push(...(commits.get(s)?.parents ?? []));
    }
    return false;
  };

  const handle = (req: IncomingMessage, res: ServerResponse, raw: string) => {
    const url = new URL(req.url ?? '/', 'http://github.test');
    // GitHub Enterprise Server serves the REST API under /api/v3.
    const path = url.pathname.replace(/^\/api\/v3/, '');
    const method = req.method ?? 'GET';
    let body: Record<string, unknown> = {};
    try {
      body = raw ? JSON.parse(raw) : {};
    } catch {
      body = {};
    }
    const slow = slows.find((f) => f.times > 0 && f.match(method, path));
    if (slow) slow.times--;
    const send = (status: number, data: unknown, headers: Record<string, string> = {}) => {
      calls.push({
        method,
        path: decodeURIComponent(path),
        body,
        status,
        auth: req.headers.authorization,
        at: Date.now(),
      });
      const answer = () => {
        if (res.destroyed) return; // the caller is gone (killed)
        res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
        res.end(data === undefined ? '' : JSON.stringify(data));
      };
      if (slow) setTimeout(answer, slow.delayMs).unref();
      else answer();
    };
    const fault = faults.find((f) => f.times > 0 && f.match(method, path));
    if (fault) {
      fault.times--;
      return send(fault.status, fault.body, fault.headers);
    }
    try {
      authorise(path, req.headers.authorization);
      for (const [m, re, h] of routes) {
        const match = m === method ? re.exec(path) : null;
        if (match) {
          const [status, data] = h(match, body, url.searchParams);
          return send(status, data);
        }
      }
      fail(404, `Not Found: ${method} ${path}`);
    } catch (err) {
      if (err instanceof HttpFailure)
        return send(err.status, {
          message: err.message,
          documentation_url: 'https://docs.github.com/rest',
          ...err.extra,
        });
      return send(500, { message: (err as Error).message });
    }
  };

  const server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => handle(req, res, raw));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  /** Sends a webhook as GitHub does; resolves with the receiver's status. `delivery` reuses an id (a redelivery). */
  async function send(
    event: string,
    payload: Record<string, unknown>,
    o: { delivery?: string; secret?: string; signature?: string | null } = {},
  ): Promise<{ status: number; delivery: string; body: string }> {
    const id = o.delivery ?? randomUUID();
    const raw = JSON.stringify({
      ...payload,
      repository: repoJson(),
      ...(opts.app ? { installation: { id: installationId } } : {}),
    });
    const secret = o.secret ?? state.webhookSecret;
    const signature = o.signature === undefined ? (secret ? githubSignature(secret, raw) : undefined) : o.signature;
    const res = await fetch(state.webhookUrl!, {
      method: 'POST',
      body: raw,
      headers: {
        'content-type': 'application/json',
        'user-agent': 'GitHub-Hookshot/airlock-test',
        'x-github-event': event,
        'x-github-delivery': id,
        'x-github-hook-id': '1',
        ...(signature ? { 'x-hub-signature-256': signature } : {}),
      },
    });
    const text = await res.text();
    deliveries.push({ id, event, status: res.status, raw, signature: signature ?? undefined });
    return { status: res.status, delivery: id, body: text };
  }

  const issueFor = (p: Pull) => ({
    number: p.number,
    title: p.title,
    state: p.state,
    user: user(p.user),
    pull_request: { url: `https://api.github.test/repos/${fullName}/pulls/${p.number}` },
  });

  return {
    url,
    owner,
    repo: repoName,
    fullName,
    calls,
    deliveries,
    refs,
    commits,
    blobs,
    trees,
    pulls,
    comments,
    checkRuns,
    dispatches,
    workflowRuns,
    deploymentAnswers,
    installationTokens,
    set webhookUrl(u: string) {
      state.webhookUrl = u;
    },
    set webhookSecret(s: string) {
      state.webhookSecret = s;
    },
    /** Side effects received: calls by method and path pattern (`POST /repos/acme/app/pulls`), successful ones only. */
    count(method: string, path: RegExp | string): number {
      return calls.filter(
        (c) =>
          c.method === method && c.status < 300 && (typeof path === 'string' ? c.path === path : path.test(c.path)),
      ).length;
    },
    /** Writes received (anything but GET), successful or not. */
    writes: () => calls.filter((c) => c.method !== 'GET'),
    /** The file contents of a commit's tree. */
    files(sha: string): Record<string, string> {
      const tree = trees.get(commits.get(sha)!.tree)!;
      return Object.fromEntries(Object.entries(tree).map(([p, b]) => [p, blobs.get(b)!]));
    },
    /** The next `times` requests matching answer `status` (a 502, say). */
    failNext(match: { method?: string; path: RegExp }, status = 502, times = 1) {
      faults.push({
        match: (m, p) => (!match.method || match.method === m) && match.path.test(p),
        times,
        status,
        body: { message: status === 502 ? 'Server Error' : 'error' },
      });
    },
    /**
     * The next `times` requests matching are carried out at once (and counted) but answered only after `delayMs`:
     * a worker killed meanwhile dies in the middle of the call, after GitHub acted.
     */
    slowNext(match: { method?: string; path: RegExp }, delayMs: number, times = 1) {
      slows.push({ match: (m, p) => (!match.method || match.method === m) && match.path.test(p), times, delayMs });
    },
    /** GitHub's secondary rate limit (docs: "Rate limits for the REST API"): 403 with Retry-After in seconds. */
    secondaryRateLimit(match: { method?: string; path: RegExp }, retryAfterSeconds: number, times = 1) {
      faults.push({
        match: (m, p) => (!match.method || match.method === m) && match.path.test(p),
        times,
        status: 403,
        headers: { 'retry-after': String(retryAfterSeconds), 'x-ratelimit-remaining': '4000' },
        body: {
          message: 'You have exceeded a secondary rate limit. Please wait a few minutes before you try again.',
          documentation_url:
            'https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits',
        },
      });
    },
    send,
    /** GitHub's "Redeliver": the same body, signature and X-GitHub-Delivery again. */
    async redeliver(id: string) {
      const d = deliveries.find((x) => x.id === id)!;
      const res = await fetch(state.webhookUrl!, {
        method: 'POST',
        body: d.raw,
        headers: {
          'content-type': 'application/json',
          'x-github-event': d.event,
          'x-github-delivery': d.id,
          ...(d.signature ? { 'x-hub-signature-256': d.signature } : {}),
        },
      });
      return { status: res.status, body: await res.text() };
    },
    /** A person submits a review: the `pull_request_review` webhook (`submitted`). */
    review(number: number, login: string, state: 'approved' | 'changes_requested' | 'commented', body = '', o = {}) {
      const p = pulls.get(number)!;
      const r: Review = { id: ++nextId, pull_number: number, state, body, login, commit_id: headSha(p) };
      reviews.push(r);
      return send(
        'pull_request_review',
        {
          action: 'submitted',
          review: { id: r.id, state, body: body || null, user: user(login), commit_id: r.commit_id },
          pull_request: pullJson(p),
          sender: user(login),
        },
        o,
      );
    },
    /** A person (or bot) comments on the PR: the `issue_comment` webhook (`created`). */
    comment(number: number, login: string, body: string, o: { type?: 'User' | 'Bot'; delivery?: string } = {}) {
      const p = pulls.get(number)!;
      const type = o.type ?? (login.endsWith('[bot]') ? 'Bot' : 'User');
      const c: Comment = { id: ++nextId, issue_number: number, body, login, type };
      comments.set(c.id, c);
      return send(
        'issue_comment',
        { action: 'created', issue: issueFor(p), comment: commentJson(c), sender: user(login, type) },
        { delivery: o.delivery },
      );
    },
    /** A person clicks a check run's button: the `check_run` webhook (`requested_action`). */
    clickCheckRun(id: number, login: string, identifier: string) {
      const r = checkRuns.get(id)!;
      return send('check_run', {
        action: 'requested_action',
        check_run: checkRunJson(r),
        requested_action: { identifier },
        sender: user(login),
      });
    },
    /** Someone pushes a commit to a PR's branch: the `pull_request` webhook (`synchronize`). */
    push(number: number, login: string, files: Record<string, string>) {
      const p = pulls.get(number)!;
      const before = headSha(p);
      const tree = { ...trees.get(commits.get(before)!.tree)! };
      for (const [path, content] of Object.entries(files)) {
        const sha = gitSha('blob', content);
        blobs.set(sha, content);
        tree[path] = sha;
      }
      const sha = addCommit(`push by ${login}`, addTree(tree), [before]);
      refs.set(`heads/${p.head}`, sha);
      return send('pull_request', {
        action: 'synchronize',
        number,
        before,
        after: sha,
        pull_request: pullJson(p),
        sender: user(login),
      });
    },
    /**
     * A workflow run reaches an environment whose protection rule names the App: the `deployment_protection_rule`
     * webhook (`requested`), with the run's deployment_callback_url on this server.
     */
    requestDeployment(o: { runId: number; environment: string; ref?: string; creator?: string; pr?: number }) {
      let envs = waitingRuns.get(o.runId);
      if (!envs) waitingRuns.set(o.runId, (envs = new Set()));
      envs.add(o.environment);
      const sha = refs.get(`heads/${o.ref ?? 'main'}`) ?? refs.get('heads/main')!;
      const creator = user(o.creator ?? 'dave-gh');
      return send('deployment_protection_rule', {
        action: 'requested',
        environment: o.environment,
        event: 'push',
        deployment_callback_url: `${url}/repos/${fullName}/actions/runs/${o.runId}/deployment_protection_rule`,
        deployment: { id: ++nextId, ref: o.ref ?? 'main', sha, environment: o.environment, creator },
        pull_requests: o.pr ? [pullJson(pulls.get(o.pr)!)] : [],
        installation: { id: installationId },
        sender: creator,
      });
    },
    /**
     * Commits a workflow file `.github/workflows/<file>` to `branch` (main) and registers the workflow, as pushing
     * one does on GitHub. Returns its id.
     */
    addWorkflow(file: string, yamlText: string, branch = 'main'): number {
      const path = `.github/workflows/${file}`;
      const parent = refs.get(`heads/${branch}`)!;
      const blob = gitSha('blob', yamlText);
      blobs.set(blob, yamlText);
      const tree = addTree({ ...trees.get(commits.get(parent)!.tree)!, [path]: blob });
      refs.set(`heads/${branch}`, addCommit(`Add ${path}`, tree, [parent]));
      const existing = [...workflows.values()].find((w) => w.path === path);
      if (existing) return existing.id;
      const name = (parseYaml(yamlText) as { name?: string } | null)?.name ?? path;
      const wf: Workflow = { id: ++nextId, name, path };
      workflows.set(wf.id, wf);
      return wf.id;
    },
    /** How soon a dispatched run shows in the runs list (GitHub lists it a few seconds later), or never. */
    runsAppear(o: { afterMs?: number; never?: boolean }) {
      runDelay.ms = o.afterMs ?? 0;
      runDelay.hidden = o.never ?? false;
    },
    /** Comments on a PR, oldest first. */
    commentsOn: (number: number) => [...comments.values()].filter((c) => c.issue_number === number),
    headSha: (number: number) => headSha(pulls.get(number)!),
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections(); // answers still held back by slowNext
      }),
  };
}

export type GithubServer = Awaited<ReturnType<typeof startGithubServer>>;
