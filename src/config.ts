/**
 * Process configuration from the environment, validated once at start-up; a bad value names its variable.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { projectRoot } from './temporal/binaries';
import ipaddr from 'ipaddr.js';
import { z } from 'zod';
import { durationSchema } from './policy/schema';
import { parseToolQueues, type ToolQueues } from './core/tool-queues';

const listOf = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((s) =>
      s
        .split(',')
        .map((x) => x.trim())
        .filter(Boolean),
    );
const list = listOf('');

export const configSchema = z.object({
  AIRLOCK_TEMPORAL_ADDRESS: z
    .string()
    .regex(/^[^:\s]+:\d+$/, 'must be host:port')
    .default('127.0.0.1:7233'),
  AIRLOCK_NAMESPACE: z.string().min(1).default('default'),
  AIRLOCK_TASK_QUEUE: z.string().min(1).default('airlock'),
  AIRLOCK_DATA_DIR: z.string().min(1).default('.airlock'),
  AIRLOCK_TEMPORAL_UI_PORT: z.coerce.number().int().min(1).max(65535).default(8233),
  /** The Temporal UI that `jobs show` and the console link a workflow in: `<url>/namespaces/<ns>/workflows/<id>`. */
  AIRLOCK_TEMPORAL_UI_URL: z.url().default('http://localhost:8233'),
  /** Hosts `http.request` may call: `api.example.com`, `*.example.com`, `host:8443`, `host:*`. */
  AIRLOCK_HTTP_ALLOWED_HOSTS: list,
  /** Hosts (same patterns) plain http may go to, e.g. `127.0.0.1:*` for local development; https only otherwise. */
  AIRLOCK_HTTP_INSECURE_HOSTS: list,
  /** Non-public networks outbound requests may reach (`127.0.0.0/8`, `10.0.0.0/8`); public addresses only otherwise. */
  AIRLOCK_HTTP_ALLOWED_NETWORKS: list.refine((cidrs) => cidrs.every((c) => ipaddr.isValidCIDR(c)), {
    message: 'must be CIDRs, e.g. 10.0.0.0/8,fd00::/8',
  }),
  /** Hosts completion callbacks may go to; `*` is any public host on https's default port. */
  AIRLOCK_CALLBACK_ALLOWED_HOSTS: listOf('*'),
  AIRLOCK_SHELL_ALLOWED_ROOTS: list,
  AIRLOCK_GIT_ALLOWED_ROOTS: list,
  /** A directory of git hooks the operator trusts; a repository's own hooks never run. */
  AIRLOCK_GIT_HOOKS_PATH: z.string().startsWith('/', 'must be an absolute path').optional(),
  /**
   * How shell.run sandboxes commands: `bwrap` (bubblewrap, required: refuse to run without it), `auto` (bwrap when
   * installed, else unsandboxed with a warning), `off` (explicit opt-out). Unset: `bwrap`, and `auto` for
   * `airlock dev` and the demo.
   */
  AIRLOCK_SHELL_SANDBOX: z.enum(['bwrap', 'auto', 'off']).optional(),
  /**
   * Task queue per tool family or tool (`shell=exec-prod,git=exec,*=exec`): execution workers polling it run those
   * tools. Unrouted tools run on AIRLOCK_TASK_QUEUE (one process with both roles, as `airlock dev` runs).
   */
  AIRLOCK_TOOL_QUEUES: z
    .string()
    .default('')
    .transform((spec, ctx) => {
      try {
        return parseToolQueues(spec);
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
        return z.NEVER;
      }
    }),
  AIRLOCK_POLICY_FILE: z
    .string()
    .min(1)
    .default(join(projectRoot, 'config', 'policy.yaml')),
  AIRLOCK_PEOPLE_FILE: z
    .string()
    .min(1)
    .default(join(projectRoot, 'config', 'people.yaml')),
  /** postgres://… for PostgreSQL; otherwise a PGlite directory (default: <data dir>/audit), or `memory:`. */
  AIRLOCK_DATABASE_URL: z.string().min(1).optional(),
  /**
   * Ed25519 private key (PKCS#8 PEM) that signs audit chain heads; required by serve and worker (every host the same
   * key); `airlock dev` generates one per data dir when unset.
   */
  AIRLOCK_AUDIT_SIGNING_KEY: z
    .string()
    .includes('PRIVATE KEY', { message: 'must be a PKCS#8 PEM private key' })
    // Env files hold one line per variable: `\n` there stands for the PEM's line breaks.
    .transform((pem) => pem.replace(/\\n/g, '\n'))
    .optional(),
  /**
   * Ed25519 private key (PKCS#8 PEM) with which this process's channels (HTTP API, Slack) attest the votes they
   * authenticated; generated into the data dir when unset (as the audit key is).
   */
  AIRLOCK_ATTESTATION_KEY: z
    .string()
    .includes('PRIVATE KEY', { message: 'must be a PKCS#8 PEM private key' })
    .optional(),
  /** A JSON file of further channel public keys ({keyId, channel, publicKeyPem}[]) submitted jobs trust. */
  AIRLOCK_ATTESTATION_KEYRING: z.string().min(1).optional(),
  /** Public keys (a PEM file of one or more, or a directory of *.pem) besides the signing key's that verify heads. */
  AIRLOCK_AUDIT_KEYRING: z.string().min(1).optional(),
  /** 1: start serve/worker with development credentials and a generated signing key (tests); `airlock dev` implies it. */
  AIRLOCK_ALLOW_DEV_CREDENTIALS: z.enum(['0', '1'], { message: 'must be 0 or 1' }).default('0'),
  AIRLOCK_CALLBACK_SECRET: z.string().min(16, 'use at least 16 characters').optional(),
  AIRLOCK_API_HOST: z.string().min(1).default('127.0.0.1'),
  AIRLOCK_API_PORT: z.coerce.number().int().min(0).max(65535).default(8080),
  /** People in these groups may cancel any job and freeze. */
  AIRLOCK_OPERATOR_GROUPS: listOf('sre,sre-leads'),
  AIRLOCK_RATE_LIMIT_PER_MINUTE: z.coerce.number().int().positive().default(1200),
  /** How long an MCP tool call waits for humans (sending progress) before answering `awaiting_approval`. */
  AIRLOCK_MCP_APPROVAL_WAIT: durationSchema.default(25_000),
  /** How often a waiting MCP tool call sends a progress notification. */
  AIRLOCK_MCP_PROGRESS_INTERVAL: durationSchema.default(5_000),
  /** A YAML file of upstream MCP servers re-exposed as governed tools `<server>.<tool>`. */
  AIRLOCK_MCP_UPSTREAMS: z.string().min(1).optional(),
  /** An MCP session refuses new calls once its history holds this many events (close it and start a new one). */
  AIRLOCK_MCP_SESSION_MAX_EVENTS: z.coerce.number().int().min(10).max(50_000).default(40_000),
  /** How long an Idempotency-Key is kept (hours; default a week); expired keys are deleted and may be used again. */
  AIRLOCK_IDEMPOTENCY_KEY_RETENTION_HOURS: z.coerce.number().positive().default(168),
  /**
   * Addresses (IPs or CIDRs) of the authenticating reverse proxy in front of the web console (oauth2-proxy): only
   * from these is the identity header believed, and X-Forwarded-Proto/-For honoured. None by default.
   */
  AIRLOCK_CONSOLE_TRUSTED_PROXIES: list.refine((xs) => xs.every((x) => ipaddr.isValid(x) || ipaddr.isValidCIDR(x)), {
    message: 'must be IP addresses or CIDRs, e.g. 127.0.0.1,10.0.0.0/8',
  }),
  /** The header in which the trusted proxy names the signed-in person's email (oauth2-proxy's convention). */
  AIRLOCK_CONSOLE_PROXY_HEADER: z
    .string()
    .regex(/^[A-Za-z0-9-]+$/, 'must be a header name')
    .default('X-Forwarded-Email')
    .transform((h) => h.toLowerCase()),
  /**
   * 32 bytes, hex (64 digits) or base64, that encrypt the console's session cookie; generated into the data dir when
   * unset (every process serving the console must share it).
   */
  AIRLOCK_CONSOLE_SESSION_KEY: z
    .string()
    .refine((k) => sessionKeyBytes(k) !== undefined, 'must be 32 bytes as 64 hex digits or base64')
    .optional(),
  SLACK_BOT_TOKEN: z.string().min(1).optional(),
  SLACK_SIGNING_SECRET: z.string().min(1).optional(),
  /** Slack Web API base URL; tests point it at a local server. */
  SLACK_API_URL: z.url().optional(),
  /** The bot's ids, so incoming requests never wait on Slack's `auth.test` (Bolt asks it when they are unknown). */
  SLACK_BOT_ID: z
    .string()
    .regex(/^B[A-Z0-9]+$/, 'Slack bot ids look like B012ABCDEF')
    .optional(),
  SLACK_BOT_USER_ID: z
    .string()
    .regex(/^[UW][A-Z0-9]+$/, 'Slack user ids look like U012ABCDEF')
    .optional(),
  /** Channel id for requests whose policy says just `slack`. */
  SLACK_APPROVAL_CHANNEL: z.string().min(1).optional(),
  /** GitHub: a GitHub App (id + private key PEM, or a file holding it) or a plain token; the webhook secret. */
  GITHUB_APP_ID: z.string().regex(/^\d+$/, 'GitHub App ids are numbers').optional(),
  GITHUB_APP_PRIVATE_KEY: z.string().min(1).optional(),
  GITHUB_APP_PRIVATE_KEY_FILE: z.string().min(1).optional(),
  GITHUB_TOKEN: z.string().min(1).optional(),
  GITHUB_WEBHOOK_SECRET: z.string().min(1).optional(),
  /** The REST API base URL: GitHub Enterprise Server's `https://<host>/api/v3`, or a local stand-in in tests. */
  AIRLOCK_GITHUB_API_URL: z.url().optional(),
  /** Where people reach this Airlock (e.g. https://airlock.example.com): links to audit trails shown on GitHub. */
  AIRLOCK_PUBLIC_URL: z.url().optional(),
  /** Least time between two writes (GitHub asks for one second); tests set 0. */
  AIRLOCK_GITHUB_WRITE_INTERVAL_MS: z.coerce.number().int().min(0).optional(),
  AIRLOCK_LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
});

/** What a production process runs as (docker-compose.yml's Airlock services). */
export type ProductionRole = 'api' | 'control' | 'execution';

/**
 * Variables a production process must set, by role: their defaults suit `airlock dev` on one machine only (a local
 * Temporal, an embedded audit database, a signing key generated per data dir, an API on loopback, every tool on the
 * job's queue). docker-compose.yml is checked against this list (test/deploy/compose.test.ts).
 */
export const productionVariables: Record<ProductionRole, (keyof z.input<typeof configSchema>)[]> = {
  api: [
    'AIRLOCK_TEMPORAL_ADDRESS',
    'AIRLOCK_DATABASE_URL',
    'AIRLOCK_AUDIT_SIGNING_KEY',
    'AIRLOCK_TOOL_QUEUES',
    'AIRLOCK_API_HOST',
    'AIRLOCK_POLICY_FILE',
    'AIRLOCK_PEOPLE_FILE',
  ],
  control: [
    'AIRLOCK_TEMPORAL_ADDRESS',
    'AIRLOCK_DATABASE_URL',
    'AIRLOCK_AUDIT_SIGNING_KEY',
    'AIRLOCK_TOOL_QUEUES',
    'AIRLOCK_POLICY_FILE',
    'AIRLOCK_PEOPLE_FILE',
  ],
  // Decides right before acting: the policy, the audit trail it writes the decision to, and where it polls.
  execution: [
    'AIRLOCK_TEMPORAL_ADDRESS',
    'AIRLOCK_DATABASE_URL',
    'AIRLOCK_AUDIT_SIGNING_KEY',
    'AIRLOCK_TOOL_QUEUES',
    'AIRLOCK_POLICY_FILE',
    'AIRLOCK_PEOPLE_FILE',
  ],
};

export interface Config {
  temporal: { address: string; namespace: string; taskQueue: string; uiPort: number; uiUrl: string };
  /** Where each tool's activities run (AIRLOCK_TOOL_QUEUES); tools not named run on `temporal.taskQueue`. */
  toolQueues: ToolQueues;
  dataDir: string;
  http: { allowedHosts: string[]; insecureHosts: string[]; allowedNetworks: string[]; callbackHosts: string[] };
  shell: { allowedRoots: string[]; sandbox?: 'bwrap' | 'auto' | 'off' };
  git: { allowedRoots: string[]; hooksPath?: string };
  audit: { databaseUrl: string; signingKey?: string; keyring?: string };
  /** The channels' vote attestation key (private; never logged) and a keyring of other channels' public keys. */
  attestation: { signingKey?: string; keyring?: string };
  /**
   * Started for development (`airlock dev`, or AIRLOCK_ALLOW_DEV_CREDENTIALS=1): the published development
   * credentials are accepted and a signing key is generated per data dir. Otherwise both are refused at start.
   */
  development: boolean;
  api: {
    host: string;
    port: number;
    operatorGroups: string[];
    rateLimitPerMinute: number;
    /** How long Idempotency-Keys are kept, in milliseconds. */
    idempotencyKeyRetentionMs: number;
  };
  /** Agents over MCP (/mcp): how long a call waits for humans before answering, and how often it tells. */
  mcp: { approvalWaitMs: number; progressIntervalMs: number; upstreamsFile?: string; maxHistoryEvents: number };
  /** The web console (src/console): who may vouch for a person, the session key (secret), the Temporal UI link. */
  console: { trustedProxies: string[]; proxyHeader: string; sessionKey?: Buffer };
  callbackSecret?: string;
  /** Present when Slack is configured (SLACK_BOT_TOKEN); start-up refuses a half-configured Slack. */
  slack?: {
    botToken: string;
    signingSecret: string;
    apiUrl?: string;
    defaultChannel: string;
    botId?: string;
    botUserId?: string;
  };
  /** Present when GitHub is configured (an App or a token); secrets live here and in the clients only. */
  github?: GithubConfig;
  policyFile: string;
  peopleFile: string;
  logLevel: z.infer<typeof configSchema>['AIRLOCK_LOG_LEVEL'];
}

/** A console session key as 32 bytes: 64 hex digits or base64; undefined for anything else. */
export function sessionKeyBytes(text: string): Buffer | undefined {
  const t = text.trim();
  const bytes = /^[0-9a-fA-F]{64}$/.test(t) ? Buffer.from(t, 'hex') : Buffer.from(t, 'base64');
  return bytes.length === 32 ? bytes : undefined;
}

export interface GithubConfig {
  apiUrl?: string;
  /** A GitHub App: installation tokens per repository. */
  app?: { id: string; privateKey: string };
  /** A plain token (fine-grained or classic), when there is no App. */
  token?: string;
  /** Verifies webhooks (X-Hub-Signature-256); without it POST /github/webhooks is not served. */
  webhookSecret?: string;
  writeIntervalMs?: number;
  /** AIRLOCK_PUBLIC_URL, without a trailing slash: a deployment gate's answer links to the job's audit trail there. */
  publicUrl?: string;
}

export class ConfigError extends Error {
  readonly code = 'invalid_config';
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = configSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  const c = parsed.data;
  if (c.SLACK_BOT_TOKEN) {
    const missing = (['SLACK_SIGNING_SECRET', 'SLACK_APPROVAL_CHANNEL'] as const).filter((k) => !c[k]);
    if (missing.length)
      throw new ConfigError(
        `invalid configuration:\n  ${missing.join(', ')}: required when SLACK_BOT_TOKEN is set (the Slack approval channel)`,
      );
  }
  const github = githubConfig(c);
  return {
    temporal: {
      address: c.AIRLOCK_TEMPORAL_ADDRESS,
      namespace: c.AIRLOCK_NAMESPACE,
      taskQueue: c.AIRLOCK_TASK_QUEUE,
      uiPort: c.AIRLOCK_TEMPORAL_UI_PORT,
      uiUrl: c.AIRLOCK_TEMPORAL_UI_URL.replace(/\/+$/, ''),
    },
    toolQueues: c.AIRLOCK_TOOL_QUEUES,
    dataDir: resolve(c.AIRLOCK_DATA_DIR),
    http: {
      allowedHosts: c.AIRLOCK_HTTP_ALLOWED_HOSTS,
      insecureHosts: c.AIRLOCK_HTTP_INSECURE_HOSTS,
      allowedNetworks: c.AIRLOCK_HTTP_ALLOWED_NETWORKS,
      callbackHosts: c.AIRLOCK_CALLBACK_ALLOWED_HOSTS,
    },
    shell: { allowedRoots: c.AIRLOCK_SHELL_ALLOWED_ROOTS.map((p) => resolve(p)), sandbox: c.AIRLOCK_SHELL_SANDBOX },
    git: { allowedRoots: c.AIRLOCK_GIT_ALLOWED_ROOTS.map((p) => resolve(p)), hooksPath: c.AIRLOCK_GIT_HOOKS_PATH },
    audit: {
      databaseUrl: c.AIRLOCK_DATABASE_URL ?? join(resolve(c.AIRLOCK_DATA_DIR), 'audit'),
      signingKey: c.AIRLOCK_AUDIT_SIGNING_KEY,
      keyring: c.AIRLOCK_AUDIT_KEYRING ? resolve(c.AIRLOCK_AUDIT_KEYRING) : undefined,
    },
    attestation: {
      signingKey: c.AIRLOCK_ATTESTATION_KEY,
      keyring: c.AIRLOCK_ATTESTATION_KEYRING ? resolve(c.AIRLOCK_ATTESTATION_KEYRING) : undefined,
    },
    development: c.AIRLOCK_ALLOW_DEV_CREDENTIALS === '1',
    callbackSecret: c.AIRLOCK_CALLBACK_SECRET,
    api: {
      host: c.AIRLOCK_API_HOST,
      port: c.AIRLOCK_API_PORT,
      operatorGroups: c.AIRLOCK_OPERATOR_GROUPS,
      rateLimitPerMinute: c.AIRLOCK_RATE_LIMIT_PER_MINUTE,
      idempotencyKeyRetentionMs: c.AIRLOCK_IDEMPOTENCY_KEY_RETENTION_HOURS * 3600 * 1000,
    },
    console: {
      trustedProxies: c.AIRLOCK_CONSOLE_TRUSTED_PROXIES,
      proxyHeader: c.AIRLOCK_CONSOLE_PROXY_HEADER,
      sessionKey: c.AIRLOCK_CONSOLE_SESSION_KEY ? sessionKeyBytes(c.AIRLOCK_CONSOLE_SESSION_KEY) : undefined,
    },
    mcp: {
      approvalWaitMs: c.AIRLOCK_MCP_APPROVAL_WAIT,
      progressIntervalMs: c.AIRLOCK_MCP_PROGRESS_INTERVAL,
      upstreamsFile: c.AIRLOCK_MCP_UPSTREAMS ? resolve(c.AIRLOCK_MCP_UPSTREAMS) : undefined,
      maxHistoryEvents: c.AIRLOCK_MCP_SESSION_MAX_EVENTS,
    },
    slack: c.SLACK_BOT_TOKEN
      ? {
          botToken: c.SLACK_BOT_TOKEN,
          signingSecret: c.SLACK_SIGNING_SECRET!,
          apiUrl: c.SLACK_API_URL,
          defaultChannel: c.SLACK_APPROVAL_CHANNEL!,
          botId: c.SLACK_BOT_ID,
          botUserId: c.SLACK_BOT_USER_ID,
        }
      : undefined,
    github,
    policyFile: resolve(c.AIRLOCK_POLICY_FILE),
    peopleFile: resolve(c.AIRLOCK_PEOPLE_FILE),
    logLevel: c.AIRLOCK_LOG_LEVEL,
  };
}

function githubConfig(c: z.infer<typeof configSchema>): GithubConfig | undefined {
  const problems: string[] = [];
  if (c.GITHUB_APP_PRIVATE_KEY && c.GITHUB_APP_PRIVATE_KEY_FILE)
    problems.push('GITHUB_APP_PRIVATE_KEY_FILE: set either it or GITHUB_APP_PRIVATE_KEY, not both');
  let privateKey = c.GITHUB_APP_PRIVATE_KEY;
  if (c.GITHUB_APP_PRIVATE_KEY_FILE) {
    try {
      privateKey = readFileSync(resolve(c.GITHUB_APP_PRIVATE_KEY_FILE), 'utf8');
    } catch (err) {
      problems.push(`GITHUB_APP_PRIVATE_KEY_FILE: cannot read it (${(err as NodeJS.ErrnoException).code})`);
    }
  }
  if (c.GITHUB_APP_ID && !privateKey && !problems.length)
    problems.push('GITHUB_APP_PRIVATE_KEY: required when GITHUB_APP_ID is set');
  if (privateKey && !c.GITHUB_APP_ID) problems.push('GITHUB_APP_ID: required with the App private key');
  if (c.GITHUB_APP_ID && c.GITHUB_TOKEN) problems.push('GITHUB_TOKEN: set either a GitHub App or a token, not both');
  if (c.GITHUB_WEBHOOK_SECRET && !c.GITHUB_APP_ID && !c.GITHUB_TOKEN)
    problems.push(
      'GITHUB_WEBHOOK_SECRET: GitHub needs GITHUB_APP_ID or GITHUB_TOKEN too (replies are written with them)',
    );
  if (problems.length) throw new ConfigError(`invalid configuration:\n${problems.map((p) => `  ${p}`).join('\n')}`);
  if (!c.GITHUB_APP_ID && !c.GITHUB_TOKEN) return undefined;
  return {
    apiUrl: c.AIRLOCK_GITHUB_API_URL,
    ...(c.GITHUB_APP_ID ? { app: { id: c.GITHUB_APP_ID, privateKey: privateKey! } } : { token: c.GITHUB_TOKEN }),
    webhookSecret: c.GITHUB_WEBHOOK_SECRET,
    writeIntervalMs: c.AIRLOCK_GITHUB_WRITE_INTERVAL_MS,
    ...(c.AIRLOCK_PUBLIC_URL ? { publicUrl: c.AIRLOCK_PUBLIC_URL.replace(/\/+$/, '') } : {}),
  };
}

/** Secrets referenced as `{"$secret": "NAME"}` come from AIRLOCK_SECRET_<NAME> on the worker, never from history. */
export function envSecrets(env: NodeJS.ProcessEnv = process.env) {
  return (name: string): string | undefined => env[`AIRLOCK_SECRET_${name}`];
}
