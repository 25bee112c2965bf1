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
import { builtinRegistry } from '../activities';
import type { Upstream } from '../activities/mcp/upstream';
import { connectUpstreams } from './upstreams';
import { setGitHooksPath } from '../activities/git/git';
import type { ToolDeps } from '../activities/tool';
import type { ApprovalChannel } from '../approvals/channel';
import { GithubChannel } from '../approvals/github/channel';
import { GithubRounds } from '../approvals/github/rounds';
import { createGithubWebhooks } from '../approvals/github/webhooks';
import { SeenDeliveries } from '../approvals/seen-deliveries';
import { createSlackApp } from '../approvals/slack/app';
import { SlackChannel } from '../approvals/slack/channel';
import { buildApi } from './api/server';
import { attestationKeyPem, createAttestor, trustedAttestationKeys } from './attestation';
import { openAudit } from './audit/open';
import type { AuditStore } from './audit/store';
import { StepOutputTable } from './audit/outputs';
import { ConfigError, envSecrets, type Config } from './config';
import type { AttestationKey, Attestor } from './core/attestation';
import { besideSealedTrail, type AuditSink } from './core/audit';
import { ALLOW_DEV_CREDENTIALS, devCredentialProblems } from './dev/credentials';
import type { GithubClients } from './core/github';
import { FreezeControl } from './freeze';
import { createGithubClients } from './github';
import { deploymentGates } from './github-deployments';
import { createLogger } from './logger';
import { activityMetrics } from './metrics';
import { loadDirectory, type Directory } from './people';
import { PolicyStore } from './policy/store';
import { ensureSearchAttributes } from './temporal/search-attributes';
import { createWorker, type WorkerOptions, type WorkerRole } from './worker';
import { toolQueue } from './core/tool-queues';
import { ToolRegistry } from '../activities/registry';

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

/** Thrown when a worker role cannot work with this config; the message says what to set. */
export class WorkerRoleError extends Error {
  readonly code = 'invalid_worker_role';
}

/** No secret at all: what the control plane's callback client gets. */
const noSecrets = () => undefined;

/**
 * What a role's worker polls and runs. `control` refuses to start while a tool would be left on its own queue (no
 * worker there runs tools) or while tool secrets are in its environment; `execution` runs the tools routed to its
 * queue, and only those.
 */
export function workerPart(
  config: Config,
  registry: ToolRegistry,
  deps: ToolDeps,
  role: WorkerRole,
  taskQueue: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): { taskQueue: string; registry: ToolRegistry; deps: ToolDeps } {
  const control = config.temporal.taskQueue;
  if (role === 'all') return { taskQueue: taskQueue ?? control, registry, deps };
  if (role === 'control') {
    const queue = taskQueue ?? control;
    const stranded = registry.names().filter((n) => (toolQueue(config.toolQueues, n) ?? queue) === queue);
    if (stranded.length)
      throw new WorkerRoleError(
        `control worker: ${stranded.join(', ')} would run on the control queue "${queue}", where no worker runs ` +
          `tools; route them to an execution queue with AIRLOCK_TOOL_QUEUES (e.g. *=airlock-exec)`,
      );
    const secrets = Object.keys(env).filter((k) => k.startsWith('AIRLOCK_SECRET_') && env[k]);
    if (secrets.length)
      throw new WorkerRoleError(
        `control worker: ${secrets.join(', ')} set; tool secrets belong on execution workers, not the control plane`,
      );
    // The tools' definitions stay (decisions of jobs from before decide-in-action read their risk); the role registers
    // none of their activities.
    return { taskQueue: queue, registry, deps: { ...deps, secret: noSecrets } };
  }
  const routed = [...new Set(Object.values(config.toolQueues))];
  const queue = taskQueue ?? (routed.length === 1 ? routed[0] : undefined);
  if (!queue)
    throw new WorkerRoleError(
      routed.length
        ? `execution worker: AIRLOCK_TOOL_QUEUES routes to ${routed.join(', ')}; name one with --queue`
        : 'execution worker: AIRLOCK_TOOL_QUEUES routes no tool to an execution queue (e.g. *=airlock-exec)',
    );
  const tools = registry.list().filter((t) => toolQueue(config.toolQueues, t.name) === queue);
  if (!tools.length)
    throw new WorkerRoleError(`execution worker: AIRLOCK_TOOL_QUEUES routes no tool to queue "${queue}"`);
  return { taskQueue: queue, registry: new ToolRegistry(tools), deps };
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
  /** What this process runs (src/worker.ts); default `all`, one process with both roles. */
  role?: WorkerRole;
  /**
   * Default: the config's task queue; for `execution`, the one queue AIRLOCK_TOOL_QUEUES routes to (name it when it
   * routes to several).
   */
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
  /** A worker for a role: by default the workflows and every activity (control and execution roles in one). */
  worker(settings: WorkerSettings): Promise<Worker>;
  /** The HTTP API (with Slack's route when configured), not yet listening. */
  api(): ReturnType<typeof buildApi>;
  /** The API listening on the configured host and port. */
  serve(): Promise<{ url: string; close: () => Promise<void> }>;
  /** Stops watching the policy and closes what this root opened. */
  close(): Promise<void>;
}

/**
 * Refuses to start outside development with the published development credentials (the dev people file, or any dev
 * token), naming each, so a deployment never accepts tokens anyone can read in README. Returns the directory.
 */
export function checkStartCredentials(config: Config, directory?: Directory): Directory {
  const dir = directory ?? loadDirectory(config.peopleFile);
  if (config.development) return dir;
  const problems = devCredentialProblems(directory ? undefined : config.peopleFile, dir);
  if (problems.length)
    throw new ConfigError(
      `refusing to start with development credentials:\n${problems.map((p) => `  ${p}`).join('\n')}\n` +
        `Use a people file of your own (AIRLOCK_PEOPLE_FILE) with tokens of your own (\`airlock hash-token\`), or run ` +
        `\`airlock dev\`; tests may set ${ALLOW_DEV_CREDENTIALS}=1.`,
    );
  return dir;
}

/** Builds Airlock's parts from config; each replaced part is used as given. */
export async function composeAirlock(opts: ComposeOptions): Promise<Airlock> {
  const { config, client } = opts;
  const logger = opts.logger ?? createLogger(config.logLevel);
  // The cheap, failing-fast parts first: an invalid people or policy file, or development credentials outside
  // development, stop the start before anything opens.
  const directory = checkStartCredentials(config, opts.directory);
  // A namespace without Airlock's search attributes would refuse every job: register them, or refuse to start.
  await ensureSearchAttributes(client, config.temporal.namespace);
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
  // GitHub's clients hold the token or the App's private key; tools and the channel get only the clients.
  const github: GithubClients | undefined =
    opts.deps?.github ??
    (config.github
      ? createGithubClients(config.github, {
          warn: (msg) => logger.warn({ component: 'github' }, msg),
          error: (msg) => logger.error({ component: 'github' }, msg),
        })
      : undefined);
  const baseDeps = opts.deps ?? toolDeps(config, opts.development);
  const deps: ToolDeps = github ? { ...baseDeps, github } : baseDeps;
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
  const seen = config.slack ? await SeenDeliveries.open(audit.db) : undefined;
  if (config.slack) {
    const slack = config.slack;
    const web = new WebClient(slack.botToken, slack.apiUrl ? { slackApiUrl: slack.apiUrl } : {});
    channels.push(
      await SlackChannel.create({ client: web, db: audit.db, directory, defaultChannel: slack.defaultChannel }),
    );
  }
  const githubRounds = github ? await GithubRounds.open(audit.db) : undefined;
  if (github) channels.push(new GithubChannel({ github, rounds: githubRounds!, log: (msg) => logger.warn(msg) }));
  const githubWebhooks =
    github && config.github?.webhookSecret
      ? createGithubWebhooks({
          secret: config.github.webhookSecret,
          temporal: client,
          directory,
          attestor,
          github,
          rounds: githubRounds!,
          seen: await SeenDeliveries.open(audit.db),
          audit,
          log: logger,
          deploymentGate: deploymentGates({
            client,
            registry,
            taskQueue: config.temporal.taskQueue,
            toolQueues: config.toolQueues,
            attestationKeys,
            directory,
            publicUrl: config.github.publicUrl,
          }),
        })
      : undefined;

  const api = () =>
    buildApi({
      client,
      taskQueue: config.temporal.taskQueue,
      toolQueues: config.toolQueues,
      registry,
      directory,
      audit,
      freeze,
      logger,
      attestor,
      attestationKeys,
      operatorGroups: config.api.operatorGroups,
      rateLimitPerMinute: config.api.rateLimitPerMinute,
      idempotencyKeyRetentionMs: config.api.idempotencyKeyRetentionMs,
      console: {
        namespace: config.temporal.namespace,
        temporalUiUrl: config.temporal.uiUrl,
        trustedProxies: config.console.trustedProxies,
        proxyHeader: config.console.proxyHeader,
        sessionKey: config.console.sessionKey,
        dataDir: config.dataDir,
      },
      freezeMode: () => policy.current().source.freeze.mode,
      mcp: { policy: () => policy.current(), ...config.mcp },
      policy,
      temporalUiUrl: config.temporal.uiUrl,
      namespace: config.temporal.namespace,
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
            seen: seen!,
          })
        : undefined,
      github: githubWebhooks,
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
    worker: async ({ connection, taskQueue, auditSink, role = 'all', ...settings }) => {
      const part = workerPart(config, registry, deps, role, taskQueue);
      return createWorker({
        ...settings,
        role,
        connection,
        namespace: config.temporal.namespace,
        taskQueue: part.taskQueue,
        registry: part.registry,
        deps: part.deps,
        policy,
        freeze,
        // A job's trail is sealed when it ends; what its workflow still does after that goes beside it.
        audit: besideSealedTrail(auditSink ?? audit),
        metrics: activityMetrics,
        outputs: new StepOutputTable(audit.db),
        callbackSecret: config.callbackSecret,
        callbackHosts: config.http.callbackHosts,
        channels,
      });
    },
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
