/**
 * The worker: the job and freeze workflows, one activity per tool (and per compensation), the policy decision, and
 * the approval channels. Built by the composition root (src/compose.ts), which hands it every part.
 *
 * Roles split it across processes (README "Running in production"): `control` runs the workflows and the decision,
 * audit, approval and callback work, and no tool; `execution` runs the tools routed to its task queue
 * (AIRLOCK_TOOL_QUEUES), deciding with the policy right before acting; `all` (the default, `airlock dev`) is both.
 */
import { NativeConnection, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { AuditSink } from './core/audit';
import { failingForGood } from '../activities/audit-sink';
import { createActivities } from '../activities/create-activities';
import { createJobActivities } from '../activities/job';
import { createPolicyActivities } from '../activities/policy/evaluate';
import { createFreezeActivities } from '../activities/freeze';
import { actionCost, decideAction } from './policy/decide';
import { approvalRequirement } from './policy/evaluate';
import { inputDigest } from './core/digest';
import type { Decider, FreezeReader } from './core/contracts';
import type { StoredOutputs } from './core/outputs';
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

/** What a worker process runs; see the file comment. */
export type WorkerRole = 'all' | 'control' | 'execution';
export const workerRoles: readonly WorkerRole[] = ['all', 'control', 'execution'];

export interface WorkerOptions {
  connection: NativeConnection;
  /** Default `all`. An `execution` worker registers no workflows and only the tools in `registry`. */
  role?: WorkerRole;
  namespace?: string;
  taskQueue: string;
  registry: ToolRegistry;
  deps: ToolDeps;
  policy: PolicyStore;
  freeze: FreezeReader;
  audit: AuditSink;
  metrics?: ActivityMetrics;
  /** Where outputs too large for workflow history are stored (faults-v1). */
  outputs?: StoredOutputs;
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
  // Every activity's audit writes: a write the database refuses for good fails the job instead of retrying forever.
  const audit = failingForGood(opts.audit);
  const role = opts.role ?? 'all';
  const tools =
    role === 'control'
      ? {}
      : createActivities({
          registry: opts.registry,
          deps: opts.deps,
          audit,
          decide,
          metrics: opts.metrics ?? noMetrics,
          outputs: opts.outputs,
        });
  const common = {
    connection: opts.connection,
    namespace: opts.namespace ?? 'default',
    taskQueue: opts.taskQueue,
    ...opts.tuning,
    ...(opts.identity ? { identity: opts.identity } : {}),
    // Let running actions finish (or notice cancellation) before the worker goes away.
    shutdownGraceTime: '10s',
  } as const;
  if (role === 'execution') return Worker.create({ ...common, activities: tools });
  return Worker.create({
    ...common,
    ...(opts.workflowBundle
      ? { workflowBundle: opts.workflowBundle }
      : { workflowsPath: opts.workflowsPath ?? workflowsPath }),
    activities: {
      ...tools,
      // The pre-patch decision is a local activity: it runs where the workflow runs.
      ...createPolicyActivities({
        decide,
        audit,
        onUnknownOutcome: ({ action, input }) => {
          const { hash, source } = opts.policy.current();
          const rule = source.onUnknownOutcome;
          return {
            policyHash: hash,
            inputDigest: inputDigest(input),
            cost: actionCost(opts.registry.get(action), input),
            ...(rule === 'compensate' ? {} : { ask: approvalRequirement(rule.ask) }),
          };
        },
      }),
      ...createApprovalActivities([programmaticChannel, consoleChannel, ...(opts.channels ?? [])], audit, {
        metrics: opts.metrics ?? noMetrics,
      }),
      ...createJobActivities({
        audit,
        // Callbacks get the tool's scheme and network rules, with their own host list.
        outbound: { ...opts.deps.http, allowedHosts: opts.callbackHosts ?? ['*'] },
        callbackSecret: opts.callbackSecret,
        metrics: opts.metrics ?? noMetrics,
      }),
      ...createFreezeActivities(opts.freeze),
      ...opts.extraActivities,
    },
  });
}
