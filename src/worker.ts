/**
 * Worker bootstrap: the job workflow plus one activity per tool (and per compensation).
 */
import { NativeConnection, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { createActivities } from '../activities/create-activities';
import type { ToolRegistry } from '../activities/registry';
import type { ToolDeps } from '../activities/tool';

export interface WorkerOptions {
  connection: NativeConnection;
  namespace?: string;
  taskQueue: string;
  registry: ToolRegistry;
  deps: ToolDeps;
  /** A prebuilt bundle (tests build one per file); otherwise workflows/ is bundled at start. */
  workflowBundle?: WorkflowBundleWithSourceMap;
  identity?: string;
}

export const workflowsPath = require.resolve('../workflows');

export function createWorker(opts: WorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace ?? 'default',
    taskQueue: opts.taskQueue,
    ...(opts.workflowBundle ? { workflowBundle: opts.workflowBundle } : { workflowsPath }),
    activities: createActivities(opts.registry, opts.deps),
    ...(opts.identity ? { identity: opts.identity } : {}),
    // Let running actions finish (or notice cancellation) before the worker goes away.
    shutdownGraceTime: '10s',
  });
}
