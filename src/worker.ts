/**
 * Worker bootstrap: the job and freeze workflows, one activity per tool (and per compensation), the policy
 * decision, and the approval channels.
 */
import { NativeConnection, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { AuditSink } from '../activities/audit';
import { createActivities } from '../activities/create-activities';
import { createJobActivities } from '../activities/job';
import { createPolicyActivities, decideAction, type FreezeReader } from '../activities/policy/evaluate';
import type { ToolRegistry } from '../activities/registry';
import type { ToolDeps } from '../activities/tool';
import { createApprovalActivities, programmaticChannel, type ApprovalChannel } from '../approvals/channel';
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
  const policyDeps = { policy: opts.policy, registry: opts.registry, freeze: opts.freeze, audit: opts.audit };
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace ?? 'default',
    taskQueue: opts.taskQueue,
    ...(opts.workflowBundle
      ? { workflowBundle: opts.workflowBundle }
      : { workflowsPath: opts.workflowsPath ?? workflowsPath }),
    activities: {
      ...createActivities(opts.registry, opts.deps, opts.audit, (req, attempt) =>
        decideAction(policyDeps, req, attempt),
      ),
      ...createPolicyActivities(policyDeps),
      ...createApprovalActivities([programmaticChannel, ...(opts.channels ?? [])], opts.audit),
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
