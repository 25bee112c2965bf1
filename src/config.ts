/**
 * Process configuration from the environment, validated once at start-up; a bad value names its variable.
 */
import { join, resolve } from 'node:path';
import { projectRoot } from './temporal/binaries';
import ipaddr from 'ipaddr.js';
import { z } from 'zod';
import { durationSchema } from './policy/schema';

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
  /** Ed25519 private key (PKCS#8 PEM) that signs audit chain heads; `airlock dev` generates one when unset. */
  AIRLOCK_AUDIT_SIGNING_KEY: z
    .string()
    .includes('PRIVATE KEY', { message: 'must be a PKCS#8 PEM private key' })
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
  AIRLOCK_LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
});

export interface Config {
  temporal: { address: string; namespace: string; taskQueue: string; uiPort: number };
  dataDir: string;
  http: { allowedHosts: string[]; insecureHosts: string[]; allowedNetworks: string[]; callbackHosts: string[] };
  shell: { allowedRoots: string[]; sandbox?: 'bwrap' | 'auto' | 'off' };
  git: { allowedRoots: string[]; hooksPath?: string };
  audit: { databaseUrl: string; signingKey?: string };
  /** The channels' vote attestation key (private; never logged) and a keyring of other channels' public keys. */
  attestation: { signingKey?: string; keyring?: string };
  api: { host: string; port: number; operatorGroups: string[]; rateLimitPerMinute: number };
  /** Agents over MCP (/mcp): how long a call waits for humans before answering, and how often it tells. */
  mcp: { approvalWaitMs: number; progressIntervalMs: number; upstreamsFile?: string };
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
  policyFile: string;
  peopleFile: string;
  logLevel: z.infer<typeof configSchema>['AIRLOCK_LOG_LEVEL'];
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
  return {
    temporal: {
      address: c.AIRLOCK_TEMPORAL_ADDRESS,
      namespace: c.AIRLOCK_NAMESPACE,
      taskQueue: c.AIRLOCK_TASK_QUEUE,
      uiPort: c.AIRLOCK_TEMPORAL_UI_PORT,
    },
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
    },
    attestation: {
      signingKey: c.AIRLOCK_ATTESTATION_KEY,
      keyring: c.AIRLOCK_ATTESTATION_KEYRING ? resolve(c.AIRLOCK_ATTESTATION_KEYRING) : undefined,
    },
    callbackSecret: c.AIRLOCK_CALLBACK_SECRET,
    api: {
      host: c.AIRLOCK_API_HOST,
      port: c.AIRLOCK_API_PORT,
      operatorGroups: c.AIRLOCK_OPERATOR_GROUPS,
      rateLimitPerMinute: c.AIRLOCK_RATE_LIMIT_PER_MINUTE,
    },
    mcp: {
      approvalWaitMs: c.AIRLOCK_MCP_APPROVAL_WAIT,
      progressIntervalMs: c.AIRLOCK_MCP_PROGRESS_INTERVAL,
      upstreamsFile: c.AIRLOCK_MCP_UPSTREAMS ? resolve(c.AIRLOCK_MCP_UPSTREAMS) : undefined,
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
    policyFile: resolve(c.AIRLOCK_POLICY_FILE),
    peopleFile: resolve(c.AIRLOCK_PEOPLE_FILE),
    logLevel: c.AIRLOCK_LOG_LEVEL,
  };
}

/** Secrets referenced as `{"$secret": "NAME"}` come from AIRLOCK_SECRET_<NAME> on the worker, never from history. */
export function envSecrets(env: NodeJS.ProcessEnv = process.env) {
  return (name: string): string | undefined => env[`AIRLOCK_SECRET_${name}`];
}
