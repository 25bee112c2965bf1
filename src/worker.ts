/**
 * The worker: the job and freeze workflows, one activity per tool (and per compensation), the policy decision, and
 * the approval channels. Built by the composition root (src/compose.ts), which hands it every part.
 */
import { NativeConnection, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { AuditSink } from './core/audit';
import { createActivities } from '../activities/create-activities';
import { createJobActivities } from '../activities/job';
import { createPolicyActivities } from '../activities/policy/evaluate';
import { decideAction } from './policy/decide';
import type { Decider, FreezeReader } from './core/contracts';
import { noMetrics, type ActivityMetrics } from './core/metrics';
import type { ToolRegistry } from '../activities/registry';
import type { ToolDeps } from '../activities/tool';
import {
  consoleChannel,
  createApprovalActivities,
  programmaticChannel,
  type ApprovalChannel,
} from '../approvals/channel';
import type { PolicyStore } from './policy/store';

export interface WorkerOptions {
  connection: NativeConnection;
  namespace?: string;
  taskQueue: string;
  registry: ToolRegistry;
  deps: ToolDeps;
  policy: PolicyStore;
  freeze: FreezeReader;
  audit: AuditSink;
  metrics?: ActivityMetrics;
  /** HMAC key for completion callbacks (AIRLOCK_CALLBACK_SECRET). */
  callbackSecret?: string;
  /** Hosts callbacks may go to (AIRLOCK_CALLBACK_ALLOWED_HOSTS); any public host on https's port by default. */
  callbackHosts?: string[];
  /** Approval channels besides the programmatic one (CLI/API), which is always there. */
  channels?: ApprovalChannel[];
  /** Activities besides Airlock's own (the benchmark's bare baseline). */
  extraActivities?: Record<string, (...args: never[]) => Promise<unknown>>;
  /** Worker tuning (cache size, concurrency); Temporal's defaults otherwise. */
  tuning?: Pick<
    Parameters<typeof Worker.create>[0],
    | 'maxCachedWorkflows'
    | 'maxConcurrentActivityTaskExecutions'
    | 'maxConcurrentWorkflowTaskExecutions'
    | 'maxConcurrentLocalActivityExecutions'
    | 'workflowThreadPoolSize'
  >;
  /** A prebuilt bundle (tests build one per file); otherwise workflows/ is bundled at start. */
  workflowBundle?: WorkflowBundleWithSourceMap;
  /** Workflows to bundle instead of workflows/ (the benchmark adds its bare baseline). */
  workflowsPath?: string;
  identity?: string;
}

export const workflowsPath = require.resolve('../workflows');

export function createWorker(opts: WorkerOptions): Promise<Worker> {
  const decide: Decider = (req, attempt) =>
    decideAction(
      { policy: opts.policy, registry: opts.registry, freeze: opts.freeze, metrics: opts.metrics ?? noMetrics },
      req,
      attempt,
    );
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace ?? 'default',
    taskQueue: opts.taskQueue,
    ...(opts.workflowBundle
      ? { workflowBundle: opts.workflowBundle }
      : { workflowsPath: opts.workflowsPath ?? workflowsPath }),
    activities: {
      ...createActivities({
        registry: opts.registry,
        deps: opts.deps,
        audit: opts.audit,
        decide,
        metrics: opts.metrics ?? noMetrics,
      }),
      ...createPolicyActivities({ decide, audit: opts.audit }),
      ...createApprovalActivities([programmaticChannel, consoleChannel, ...(opts.channels ?? [])], opts.audit, {
        metrics: opts.metrics ?? noMetrics,
      }),
      ...createJobActivities({
        audit: opts.audit,
        // Callbacks get the tool's scheme and network rules, with their own host list.
        outbound: { ...opts.deps.http, allowedHosts: opts.callbackHosts ?? ['*'] },
        callbackSecret: opts.callbackSecret,
      }),
      ...opts.extraActivities,
    },
    ...opts.tuning,
    ...(opts.identity ? { identity: opts.identity } : {}),
    // Let running actions finish (or notice cancellation) before the worker goes away.
    shutdownGraceTime: '10s',
  });
}
