/**
 * Submitting a job under an Idempotency-Key (the HTTP API's POST /v1/jobs): the key, scoped to the caller, names the
 * job's workflow, so a retry finds the job its first attempt started. The same key with the same body gets that job
 * back; the same key with another body is refused (IdempotencyKeyReusedError). Nothing here knows about HTTP.
 */
import { createHash } from 'node:crypto';
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { LRUCache } from 'lru-cache';
import type { ToolRegistry } from '../../activities/registry';
import type { FreezeReader } from '../core/contracts';
import { inputDigest } from '../core/digest';
import { JobStatus } from '../core/job';
import { jobsSubmitted } from '../metrics';
import { planJob } from './plan';
import type { ToolQueues } from '../core/tool-queues';
import { startPlannedJob } from './submit';

/** The workflow id for a caller's Idempotency-Key: keys are scoped to the caller. */
export function jobIdFor(callerId: string, key: string): string {
  return `job-${createHash('sha256').update(`${callerId}\n${key}`).digest('hex').slice(0, 32)}`;
}

/** The Idempotency-Key already started a job for a different request body. */
export class IdempotencyKeyReusedError extends Error {
  readonly code = 'idempotency_key_reused';
  constructor(readonly key: string) {
    super(`Idempotency-Key "${key}" was used for a different request`);
    this.name = 'IdempotencyKeyReusedError';
  }
}

export interface KeyedSubmission {
  /** The caller's id: the job's requester, and the scope of its keys. */
  caller: string;
  key: string;
  /** The request body as received; validated by planJob. */
  body: unknown;
  /** The HTTP request id, carried into the job for the audit trail. */
  requestId?: string;
}

export interface SubmissionResult {
  id: string;
  status: string;
  /** True when the key had already started this job: nothing new was started. */
  replayed: boolean;
}

export interface SubmissionsOptions {
  client: Client;
  registry: ToolRegistry;
  taskQueue: string;
  /** Task queue per tool family (AIRLOCK_TOOL_QUEUES); unrouted tools run on `taskQueue`. */
  toolQueues?: ToolQueues;
  /** Refuses jobs for a frozen agent. */
  freeze?: FreezeReader;
  /** How many job ids to remember as seen (default 100,000). */
  remember?: number;
}

/**
 * Keyed submissions for one process. It remembers the jobs it has started or been asked for again, which tells it
 * which submissions are probably retries.
 */
export class Submissions {
  private readonly seen: LRUCache<string, true>;

  constructor(private readonly opts: SubmissionsOptions) {
    this.seen = new LRUCache<string, true>({ max: opts.remember ?? 100_000 });
  }

  /**
   * Starts the job, or returns the one the key already started. Throws JobValidationError (nothing started),
   * JobFrozenError, or IdempotencyKeyReusedError when the key started a job for another body.
   */
  async submit(s: KeyedSubmission): Promise<SubmissionResult> {
    const jobId = jobIdFor(s.caller, s.key);
    const requestHash = inputDigest(s.body);

    // A key this process has seen is probably a retry: one read finds its job. Any other key is probably new: start
    // first (one call); should it be a retry after all (another instance saw it), the start fails and we read.
    if (this.seen.has(jobId)) {
      try {
        return await this.replay(jobId, s.key, requestHash);
      } catch (e) {
        if (!(e instanceof WorkflowNotFoundError)) throw e;
      }
    }
    this.seen.set(jobId, true);
    const plan = planJob(s.body, this.opts.registry, s.caller, this.opts.toolQueues);
    plan.requestId = s.requestId;
    try {
      await startPlannedJob(this.opts.client, plan, {
        taskQueue: this.opts.taskQueue,
        jobId,
        freeze: this.opts.freeze,
        memo: { requestHash, caller: s.caller },
      });
    } catch (err) {
      // Concurrent duplicates: one start wins, the others find its job.
      if (err instanceof WorkflowExecutionAlreadyStartedError) return this.replay(jobId, s.key, requestHash);
      throw err;
    }
    jobsSubmitted.inc({ agent: plan.agent });
    return { id: jobId, status: JobStatus.Running, replayed: false };
  }

  /** The job this key already started: the same body gets it back; another body is refused. */
  private async replay(jobId: string, key: string, requestHash: string): Promise<SubmissionResult> {
    const d = await this.opts.client.workflow.getHandle(jobId).describe();
    if (d.memo?.requestHash !== requestHash) throw new IdempotencyKeyReusedError(key);
    return { id: jobId, status: String(d.searchAttributes.AirlockStatus?.[0] ?? JobStatus.Running), replayed: true };
  }
}
