/**
 * The embedded stack behind `airlock dev` and `npm run demo`: a Temporal CLI dev server whose SQLite file lives under
 * the data dir (so jobs survive a restart), and one worker in this process.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { builtinRegistry, type ToolRegistry } from '../../activities';
import type { ToolDeps } from '../../activities/tool';
import { setGitHooksPath } from '../../activities/git/git';
import { envSecrets, type Config } from '../config';
import { startDevServer } from '../temporal/server';
import { WebClient } from '@slack/web-api';
import type { ApprovalChannel } from '../../approvals/channel';
import { SlackChannel } from '../../approvals/slack/channel';
import type { Database } from '../audit/db';
import { loadDirectory } from '../people';
import { openAudit } from '../audit/open';
import type { AuditStore } from '../audit/store';
import { FreezeControl } from '../freeze';
import { PolicyStore } from '../policy/store';
import { createWorker } from '../worker';

export interface Stack {
  client: Client;
  policy: PolicyStore;
  freeze: FreezeControl;
  audit: AuditStore;
  address: string;
  uiUrl?: string;
  taskQueue: string;
  registry: ToolRegistry;
  worker: Worker;
  /** Resolves when the worker stops. */
  running: Promise<void>;
  stop: () => Promise<void>;
}

/** `development` (airlock dev, the demo) runs shell.run unsandboxed when bwrap is missing, unless configured. */
export function toolDeps(config: Config, development = false): ToolDeps {
  setGitHooksPath(config.git.hooksPath);
  return {
    http: { allowedHosts: config.http.allowedHosts, fetch },
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

/** The approval channels this process serves besides the CLI/API one: Slack when configured. */
export async function approvalChannels(config: Config, db: Database): Promise<ApprovalChannel[]> {
  if (!config.slack) return [];
  const client = new WebClient(config.slack.botToken, config.slack.apiUrl ? { slackApiUrl: config.slack.apiUrl } : {});
  return [
    await SlackChannel.create({
      client,
      db,
      directory: loadDirectory(config.peopleFile),
      defaultChannel: config.slack.defaultChannel,
    }),
  ];
}

export interface StackOptions {
  config: Config;
  /** false: in-memory server on a random port (the demo); true: persistent, on the configured port. */
  persistent: boolean;
  ui?: boolean;
}

export async function startStack({ config, persistent, ui }: StackOptions): Promise<Stack> {
  let server: TestWorkflowEnvironment;
  if (persistent) {
    mkdirSync(config.dataDir, { recursive: true });
    const port = Number(config.temporal.address.split(':')[1]);
    server = await startDevServer({
      dbFilename: join(config.dataDir, 'temporal.sqlite'),
      port,
      uiPort: ui ? config.temporal.uiPort : undefined,
      namespace: config.temporal.namespace,
    });
  } else {
    server = await startDevServer({ namespace: config.temporal.namespace });
  }
  const registry = builtinRegistry();
  const { policy, stopWatching } = watchPolicy(config);
  const freeze = new FreezeControl(server.client, config.temporal.taskQueue);
  const audit = await openAudit(config);
  const worker = await createWorker({
    connection: server.nativeConnection,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    registry,
    deps: toolDeps(config, true),
    policy,
    freeze,
    audit,
    callbackSecret: config.callbackSecret,
    channels: await approvalChannels(config, audit.db),
  });
  const running = worker.run();
  const address = server.connection.options.address;
  return {
    client: server.client,
    address,
    uiUrl: persistent && ui ? `http://localhost:${config.temporal.uiPort}` : undefined,
    taskQueue: config.temporal.taskQueue,
    registry,
    policy,
    freeze,
    audit,
    worker,
    running,
    stop: async () => {
      stopWatching();
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running.catch(() => undefined);
      await server.teardown();
      await audit.db.close();
    },
  };
}
