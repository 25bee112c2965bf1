/**
 * The composition root: the one place where Airlock's parts are built from config and handed to each other. `airlock
 * dev`, `serve` and `worker`, the demo, the benchmark, the history recorders and the tests all build through it. A
 * caller may replace a part (a test's policy file or tool registry, the benchmark's directory), never the wiring.
 *
 * What depends on what (README "Layout"): activities and channels get the audit sink, metrics, people directory and
 * clients from here; they import nothing from src/ outside src/core.
 */
import { WebClient } from '@slack/web-api';
import type { Client } from '@temporalio/client';
import type { NativeConnection, Worker } from '@temporalio/worker';
import type { Logger } from 'pino';
import { builtinRegistry, ToolRegistry } from '../activities';
import type { Upstream } from '../activities/mcp/upstream';
import { connectUpstreams } from './upstreams';
import { setGitHooksPath } from '../activities/git/git';
import type { ToolDeps } from '../activities/tool';
import type { ApprovalChannel } from '../approvals/channel';
import { createSlackApp } from '../approvals/slack/app';
import { SlackChannel } from '../approvals/slack/channel';
import { buildApi } from './api/server';
import { attestationKeyPem, createAttestor, trustedAttestationKeys } from './attestation';
import { openAudit } from './audit/open';
import type { AuditStore } from './audit/store';
import { envSecrets, type Config } from './config';
import type { AttestationKey, Attestor } from './core/attestation';
import type { AuditSink } from './core/audit';
import { FreezeControl } from './freeze';
import { createLogger } from './logger';
import { activityMetrics } from './metrics';
import { loadDirectory, type Directory } from './people';
import { PolicyStore } from './policy/store';
import { createWorker, type WorkerOptions } from './worker';

/**
 * What tools may reach, from config: allowed hosts and roots, the shell sandbox, and secrets from the worker's
 * environment. `development` (airlock dev, the demo) runs shell.run unsandboxed when bwrap is missing, unless
 * configured otherwise.
 */
export function toolDeps(config: Config, development = false): ToolDeps {
  return {
    http: {
      allowedHosts: config.http.allowedHosts,
      insecureHosts: config.http.insecureHosts,
      allowedNetworks: config.http.allowedNetworks,
    },
    shell: {
      allowedRoots: config.shell.allowedRoots,
      sandbox: config.shell.sandbox ?? (development ? 'auto' : 'bwrap'),
    },
    git: { allowedRoots: config.git.allowedRoots },
    secret: envSecrets(),
  };
}

/**
 * Loads the policy and watches it: an edit takes effect for the next decision; a bad edit keeps the last good policy.
 * Throws when the file is invalid at start, so a worker never starts without a valid policy.
 */
export function watchPolicy(config: Config, log: (msg: string) => void = console.error) {
  const policy = new PolicyStore(config.policyFile);
  const stopWatching = policy.watch((r) => {
    if (r.ok && r.changed) log(`policy reloaded: ${r.hash}`);
    if (!r.ok) log(`policy NOT reloaded, keeping ${r.kept}:\n${r.error.message}`);
  });
  return { policy, stopWatching };
}

export interface ComposeOptions {
  config: Config;
  /** The Temporal client the API, the freeze control and the channels talk through. */
  client: Client;
  logger?: Logger;
  /** `airlock dev`, the demo and the history recorders: development defaults (see toolDeps). */
  development?: boolean;
  // Parts a caller may replace (tests, the benchmark, the history recorders).
  registry?: ToolRegistry;
  deps?: ToolDeps;
  /** A store the caller edits (tests); otherwise the config's policy file, watched. */
  policy?: PolicyStore;
  /** An open store (tests share one per file); otherwise opened from config and closed by `close()`. */
  audit?: AuditStore;
  directory?: Directory;
  freeze?: FreezeControl;
  /** Channels besides the configured ones (a test's recorder). */
  channels?: ApprovalChannel[];
  /** Signs votes for the API and Slack channels; otherwise built from the config's attestation key. */
  attestor?: Attestor;
}

/** Worker settings that are not parts: where it polls and how it is tuned. */
export type WorkerSettings = Pick<
  WorkerOptions,
  'identity' | 'tuning' | 'workflowBundle' | 'workflowsPath' | 'extraActivities'
> & {
  connection: NativeConnection;
  /** Default: the config's task queue. */
  taskQueue?: string;
  /** Where audit events go instead of the store (the benchmark's no-audit diagnosis). */
  auditSink?: AuditSink;
};

export interface Airlock {
  readonly config: Config;
  readonly client: Client;
  readonly logger: Logger;
  readonly registry: ToolRegistry;
  readonly deps: ToolDeps;
  readonly policy: PolicyStore;
  readonly audit: AuditStore;
  readonly directory: Directory;
  readonly freeze: FreezeControl;
  /** Signs the votes this process's channels (API, Slack) authenticated. */
  readonly attestor: Attestor;
  /** The channel public keys submitted jobs trust: this process's and the keyring's (JobInput.attestationKeys). */
  readonly attestationKeys: AttestationKey[];
  /** The approval channels this process serves besides the CLI/API one: Slack when configured, plus extras. */
  readonly channels: ApprovalChannel[];
  /** A worker running the workflows and every activity (control and execution roles in one). */
  worker(settings: WorkerSettings): Promise<Worker>;
  /** The HTTP API (with Slack's route when configured), not yet listening. */
  api(): ReturnType<typeof buildApi>;
  /** The API listening on the configured host and port. */
  serve(): Promise<{ url: string; close: () => Promise<void> }>;
  /** Stops watching the policy and closes what this root opened. */
  close(): Promise<void>;
}

/** Builds Airlock's parts from config; each replaced part is used as given. */
export async function composeAirlock(opts: ComposeOptions): Promise<Airlock> {
  const { config, client } = opts;
  const logger = opts.logger ?? createLogger(config.logLevel);
  // The cheap, failing-fast parts first: an invalid people or policy file stops the start before anything opens.
  const directory = opts.directory ?? loadDirectory(config.peopleFile);
  const watched = opts.policy ? undefined : watchPolicy(config);
  const policy = opts.policy ?? watched!.policy;
  let audit: AuditStore;
  try {
    audit = opts.audit ?? (await openAudit(config));
  } catch (err) {
    watched?.stopWatching();
    throw err;
  }
  let attestor: Attestor;
  let attestationKeys: AttestationKey[];
  try {
    attestor = opts.attestor ?? createAttestor(attestationKeyPem(config));
    attestationKeys = trustedAttestationKeys(config, attestor);
  } catch (err) {
    watched?.stopWatching();
    if (!opts.audit) await audit.db.close();
    throw err;
  }
  const deps = opts.deps ?? toolDeps(config, opts.development);
  // Upstream MCP servers' tools join the registry as `<server>.<tool>`, governed like the built-in ones.
  let upstreams: Upstream[] = [];
  try {
    if (config.mcp.upstreamsFile) upstreams = await connectUpstreams(config.mcp.upstreamsFile, deps.secret);
  } catch (err) {
    watched?.stopWatching();
    if (!opts.audit) await audit.db.close();
    throw err;
  }
  const base = opts.registry ?? builtinRegistry();
  const registry = upstreams.length ? new ToolRegistry([...base.list(), ...upstreams.flatMap((u) => u.tools)]) : base;
  // The git family's hooks are the operator's (AIRLOCK_GIT_HOOKS_PATH), never a repository's own.
  setGitHooksPath(config.git.hooksPath);
  const freeze = opts.freeze ?? new FreezeControl(client, config.temporal.taskQueue);
  const channels: ApprovalChannel[] = [...(opts.channels ?? [])];
  if (config.slack) {
    const slack = config.slack;
    const web = new WebClient(slack.botToken, slack.apiUrl ? { slackApiUrl: slack.apiUrl } : {});
    channels.push(
      await SlackChannel.create({ client: web, db: audit.db, directory, defaultChannel: slack.defaultChannel }),
    );
  }

  const api = () =>
    buildApi({
      client,
      taskQueue: config.temporal.taskQueue,
      registry,
      directory,
      audit,
      freeze,
      logger,
      attestor,
      attestationKeys,
      operatorGroups: config.api.operatorGroups,
      rateLimitPerMinute: config.api.rateLimitPerMinute,
      freezeMode: () => policy.current().source.freeze.mode,
      mcp: { policy: () => policy.current(), ...config.mcp },
      slack: config.slack
        ? createSlackApp({
            signingSecret: config.slack.signingSecret,
            botToken: config.slack.botToken,
            apiUrl: config.slack.apiUrl,
            botId: config.slack.botId,
            botUserId: config.slack.botUserId,
            temporal: client,
            directory,
            attestor,
            audit,
          })
        : undefined,
    });

  return {
    config,
    client,
    logger,
    registry,
    deps,
    policy,
    audit,
    directory,
    freeze,
    attestor,
    attestationKeys,
    channels,
    worker: ({ connection, taskQueue, auditSink, ...settings }) =>
      createWorker({
        ...settings,
        connection,
        namespace: config.temporal.namespace,
        taskQueue: taskQueue ?? config.temporal.taskQueue,
        registry,
        deps,
        policy,
        freeze,
        audit: auditSink ?? audit,
        metrics: activityMetrics,
        callbackSecret: config.callbackSecret,
        callbackHosts: config.http.callbackHosts,
        channels,
      }),
    api,
    async serve() {
      const app = await api();
      const url = await app.listen({ host: config.api.host, port: config.api.port });
      return { url, close: () => app.close() };
    },
    async close() {
      watched?.stopWatching();
      await Promise.allSettled(upstreams.map((u) => u.close()));
      if (!opts.audit) await audit.db.close();
    },
  };
}
