/**
 * The embedded stack behind `airlock dev` and `npm run demo`: a Temporal CLI dev server whose SQLite file lives under
 * the data dir (so jobs survive a restart), and one worker in this process.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import type { Worker } from '@temporalio/worker';
import type { Logger } from 'pino';
import type { ToolRegistry } from '../../activities';
import type { AuditStore } from '../audit/store';
import { composeAirlock, type Airlock } from '../compose';
import type { Config } from '../config';
import type { FreezeControl } from '../freeze';
import type { PolicyStore } from '../policy/store';
import { startDevServer, type DevServer } from '../temporal/server';

export interface Stack {
  /** The composition root's parts, for the API and the CLI in the same process. */
  airlock: Airlock;
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

export interface StackOptions {
  config: Config;
  /** false: in-memory server on a random port (the demo); true: persistent, on the configured port. */
  persistent: boolean;
  ui?: boolean;
  logger?: Logger;
}

export async function startStack({ config: given, persistent, ui, logger }: StackOptions): Promise<Stack> {
  // The embedded stack is development by definition: the README's dev tokens and a generated signing key are fine.
  const config: Config = { ...given, development: true };
  let server: DevServer;
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
  // A start that fails after the server is up stops the server: nothing is left running for the next start to find.
  let airlock: Airlock | undefined;
  let worker: Worker;
  try {
    airlock = await composeAirlock({ config, client: server.client, logger, development: true });
    worker = await airlock.worker({ connection: server.nativeConnection });
  } catch (err) {
    await airlock?.close().catch(() => undefined);
    await server.teardown().catch(() => undefined);
    throw err;
  }
  const running = worker.run();
  const address = server.connection.options.address;
  const parts = airlock;
  return {
    airlock: parts,
    client: server.client,
    address,
    uiUrl: persistent && ui ? `http://localhost:${config.temporal.uiPort}` : undefined,
    taskQueue: config.temporal.taskQueue,
    registry: parts.registry,
    policy: parts.policy,
    freeze: parts.freeze,
    audit: parts.audit,
    worker,
    running,
    stop: async () => {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running.catch(() => undefined);
      await server.teardown();
      await parts.close();
    },
  };
}
