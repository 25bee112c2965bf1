/**
 * One real Temporal dev server per test file (STYLE.md), a workflow bundle built once, and workers on unique task
 * queues so tests in a file never pick up each other's work.
 */
import { randomUUID } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, type Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { builtinRegistry } from '../../activities';
import type { ToolRegistry } from '../../activities/registry';
import type { ToolDeps } from '../../activities/tool';
import { startDevServer } from '../../src/temporal/server';
import { createWorker, workflowsPath } from '../../src/worker';
import { openDatabase } from '../../src/audit/db';
import { usePostgresDatabase } from './postgres';
import { AuditStore } from '../../src/audit/store';
import { FreezeControl } from '../../src/freeze';
import { PolicyStore } from '../../src/policy/store';
import type { ApprovalChannel } from '../../approvals/channel';
import { join } from 'node:path';

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
    http: { allowedHosts: ['127.0.0.1', 'localhost'], fetch },
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
export function useTemporalServer(start: () => Promise<TestWorkflowEnvironment> = () => startDevServer()) {
  fileAudit ??= useTestAudit();
  const server = {} as { env: TestWorkflowEnvironment; audit: () => AuditStore };
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
    holder.store = await AuditStore.open(openDatabase(pg.url));
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
}

/** Creates a worker on a fresh task queue; run it with `worker.runUntil(...)`. */
export async function testWorker(
  env: TestWorkflowEnvironment,
  opts: TestWorkerOptions = {},
): Promise<{ worker: Worker; taskQueue: string; freeze: FreezeControl; policy: PolicyStore }> {
  const taskQueue = opts.taskQueue ?? uniqueId('tq');
  const policy =
    opts.policy instanceof PolicyStore ? opts.policy : new PolicyStore(opts.policy ?? fixture('policy-allow-all.yaml'));
  const freeze = new FreezeControl(env.client, taskQueue, `airlock-freeze-${taskQueue}`);
  const worker = await createWorker({
    connection: env.nativeConnection,
    taskQueue,
    registry: opts.registry ?? builtinRegistry(),
    deps: testDeps(opts.deps),
    policy,
    freeze,
    audit: fileAudit!.store,
    callbackSecret: opts.callbackSecret,
    channels: opts.channels,
    workflowBundle: await workflowBundle(),
  });
  return { worker, taskQueue, freeze, policy };
}
