/**
 * One real Temporal dev server per test file (STYLE.md), a workflow bundle built once, and workers on unique task
 * queues so tests in a file never pick up each other's work.
 */
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { bundleWorkflowCode, type Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { builtinRegistry } from '../../activities';
import type { ToolRegistry } from '../../activities/registry';
import type { ToolDeps } from '../../activities/tool';
import { startDevServer, type TemporalServer } from '../../src/temporal/server';
import { workflowsPath } from '../../src/worker';
import { composeAirlock, type Airlock } from '../../src/compose';
import type { Directory } from '../../src/people';
import { loadConfig } from '../../src/config';
import { openDatabase } from '../../src/audit/db';
import { usePostgresDatabase } from './postgres';
import { AuditStore } from '../../src/audit/store';
import { FreezeControl } from '../../src/freeze';
import { PolicyStore } from '../../src/policy/store';
import type { ApprovalChannel } from '../../approvals/channel';
import { join } from 'node:path';
import type { Attestor } from '../../src/core/attestation';
import { testAttestor } from './attestation';

let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;

/** The workflow bundle, built once per test file. */
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundle ??= bundleWorkflowCode({ workflowsPath, logger: quietLogger });
  return bundle;
}

const noop = () => undefined;
const quietLogger = { trace: noop, debug: noop, info: noop, warn: noop, error: console.error, log: noop } as never;

export function uniqueId(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

export function testDeps(overrides: Partial<ToolDeps> = {}): ToolDeps {
  return {
    // Tests talk to local servers: plain http and loopback, the documented opt-in (off by default).
    http: {
      allowedHosts: ['127.0.0.1:*', 'localhost:*'],
      insecureHosts: ['127.0.0.1:*', 'localhost:*'],
      allowedNetworks: ['127.0.0.0/8', '::1/128'],
    },
    // Saga tests run commands unsandboxed (a PID namespace hides the host pids some of them check); the sandbox
    // has its own tests in test/activities/shell.
    shell: { allowedRoots: [], sandbox: 'off' },
    secret: () => undefined,
    ...overrides,
  };
}

/**
 * One real Temporal server (dev server by default) for the whole test file (STYLE.md): `.env` after beforeAll.
 * Workers of the file write their audit trail to one PostgreSQL database (`useTestAudit`).
 */
export function useTemporalServer(start: () => Promise<TemporalServer> = () => startDevServer()) {
  fileAudit ??= useTestAudit();
  const server = {} as { env: TemporalServer; audit: () => AuditStore };
  server.audit = () => fileAudit!.store;
  beforeAll(async () => {
    server.env = await start();
  });
  afterAll(async () => {
    await server.env?.teardown();
  });
  return server;
}

/** One audit store per test file on a throw-away PostgreSQL database. Call at the top of a test file. */
export function useTestAudit() {
  const holder = {} as { store: AuditStore };
  // afterAll hooks run in the order declared: close the pool before the database is dropped.
  afterAll(async () => {
    await holder.store?.db.close();
  });
  const pg = usePostgresDatabase();
  beforeAll(async () => {
    // Signed as in production, so a job's trail is sealed when it ends.
    const key = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    holder.store = await AuditStore.open(openDatabase(pg.url), key);
  });
  return holder;
}

let fileAudit: { store: AuditStore } | undefined;

export const fixture = (name: string) => join(__dirname, '..', 'fixtures', name);

export interface TestWorkerOptions {
  registry?: ToolRegistry;
  deps?: Partial<ToolDeps>;
  taskQueue?: string;
  /** A policy file (default: test/fixtures/policy-allow-all.yaml), or a store the test edits. */
  policy?: string | PolicyStore;
  channels?: ApprovalChannel[];
  callbackSecret?: string;
  /** Environment for loadConfig besides the test defaults (Slack settings, rate limits…). */
  config?: Record<string, string>;
  directory?: Directory;
  /** Signs the API's and Slack's votes (default: the tests' attestor, whose keys test jobs trust). */
  attestor?: Attestor;
  /** An audit store on the file's database (one with a signing key); default: the file's store. */
  audit?: AuditStore;
  /** A client of the test's own (e.g. one whose connection counts its calls); default: the server's. */
  client?: Client;
}

/**
 * Airlock as the composition root builds it, on this file's server and audit store, with test defaults: a fresh task
 * queue and freeze workflow, the test people file, loopback-only tools, the allow-all policy.
 */
export async function testAirlock(env: TemporalServer, opts: TestWorkerOptions = {}): Promise<Airlock> {
  const taskQueue = opts.taskQueue ?? uniqueId('tq');
  const policy =
    opts.policy instanceof PolicyStore ? opts.policy : new PolicyStore(opts.policy ?? fixture('policy-allow-all.yaml'));
  return composeAirlock({
    config: loadConfig({
      AIRLOCK_TASK_QUEUE: taskQueue,
      AIRLOCK_PEOPLE_FILE: fixture('people.yaml'),
      AIRLOCK_LOG_LEVEL: 'silent',
      AIRLOCK_CALLBACK_ALLOWED_HOSTS: '127.0.0.1:*,localhost:*',
      ...(opts.callbackSecret ? { AIRLOCK_CALLBACK_SECRET: opts.callbackSecret } : {}),
      ...opts.config,
    }),
    client: opts.client ?? env.client,
    registry: opts.registry ?? builtinRegistry(),
    deps: testDeps(opts.deps),
    policy,
    audit: opts.audit ?? fileAudit!.store,
    freeze: new FreezeControl(env.client, taskQueue, `airlock-freeze-${taskQueue}`),
    channels: opts.channels,
    attestor: opts.attestor ?? testAttestor,
    ...(opts.directory ? { directory: opts.directory } : {}),
  });
}

/** Creates a worker on a fresh task queue through the composition root; run it with `worker.runUntil(...)`. */
export async function testWorker(
  env: TemporalServer,
  opts: TestWorkerOptions = {},
): Promise<{ worker: Worker; taskQueue: string; freeze: FreezeControl; policy: PolicyStore }> {
  const airlock = await testAirlock(env, opts);
  const worker = await airlock.worker({ connection: env.nativeConnection, workflowBundle: await workflowBundle() });
  return { worker, taskQueue: airlock.config.temporal.taskQueue, freeze: airlock.freeze, policy: airlock.policy };
}
