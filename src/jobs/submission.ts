/**
 * Submitting a job under an Idempotency-Key (the HTTP API's POST /v1/jobs). Keys live in the audit database
 * (`idempotency_keys`, unique per caller and key), so they hold after the job ended, across API restarts and across
 * API instances: the first request claims the key by inserting it, naming a fresh job id; a retry with the same body
 * gets that job back, with another body it is refused (IdempotencyKeyReusedError). Keys are kept for a retention
 * period, then cleaned up; an expired key may be claimed again (a new job). Nothing here knows about HTTP.
 */
import { randomUUID } from 'node:crypto';
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { ToolRegistry } from '../../activities/registry';
import type { FreezeReader } from '../core/contracts';
import type { AttestationKey } from '../core/attestation';
import type { Database } from '../core/db';
import { inputDigest } from '../core/digest';
import { JobStatus, type JobInput } from '../core/job';
import { jobsSubmitted } from '../metrics';
import { planJob } from './plan';
import type { ToolQueues } from '../core/tool-queues';
import { startPlannedJob } from './submit';

/** The Idempotency-Key already started a job for a different request body. */
export class IdempotencyKeyReusedError extends Error {
  readonly code = 'idempotency_key_reused';
  constructor(readonly key: string) {
    super(`Idempotency-Key "${key}" was used for a different request`);
    this.name = 'IdempotencyKeyReusedError';
  }
}

const MIGRATIONS = `
CREATE TABLE IF NOT EXISTS idempotency_keys (
  caller text NOT NULL,
  key text NOT NULL,
  request_digest text NOT NULL,
  job_id text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  started boolean NOT NULL DEFAULT false,
  PRIMARY KEY (caller, key)
);
CREATE INDEX IF NOT EXISTS idempotency_keys_created_at ON idempotency_keys (created_at);
`;

/** How long keys are kept by default: a week. */
export const DEFAULT_KEY_RETENTION_MS = 7 * 24 * 3600 * 1000;
/** How often a process deletes expired keys (at most; on submissions). */
const CLEANUP_EVERY_MS = 10 * 60 * 1000;

export interface KeyedSubmission {
  /** The caller's id: the scope of its keys, the policy's `caller`, and the requester when nobody is named. */
  caller: string;
  /** The person the caller asserts asked for the job (checked by the route against the caller's `mayAssert`). */
  requestedBy?: string;
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
  /** The audit database, where keys are kept. */
  db: Database;
  /** Task queue per tool family (AIRLOCK_TOOL_QUEUES); unrouted tools run on `taskQueue`. */
  toolQueues?: ToolQueues;
  /** Refuses jobs for a frozen agent. */
  freeze?: FreezeReader;
  /** The channel keys whose vote attestations the job trusts. */
  attestationKeys?: AttestationKey[];
  /** How long a key is kept (default DEFAULT_KEY_RETENTION_MS). */
  retentionMs?: number;
}

interface KeyRow {
  request_digest: string;
  job_id: string;
  started: boolean;
}

/** A new job id: `job-` and 32 hex digits. */
const newJobId = () => `job-${randomUUID().replace(/-/g, '')}`;

/** Keyed submissions, remembered in the database. */
export class Submissions {
  private readonly retentionSeconds: number;
  private lastCleanup = 0;

  private constructor(private readonly opts: SubmissionsOptions) {
    this.retentionSeconds = (opts.retentionMs ?? DEFAULT_KEY_RETENTION_MS) / 1000;
  }

  /** Creates the keys table when missing. */
  static async open(opts: SubmissionsOptions): Promise<Submissions> {
    await opts.db.exec(MIGRATIONS);
    return new Submissions(opts);
  }

  /**
   * Starts the job, or returns the one the key already started. Throws JobValidationError (nothing started, key not
   * claimed), JobFrozenError, or IdempotencyKeyReusedError when the key started a job for another body.
   */
  async submit(s: KeyedSubmission): Promise<SubmissionResult> {
    const digest = inputDigest(s.body);
    const plan = planJob(s.body, this.opts.registry, s.requestedBy ?? s.caller, this.opts.toolQueues);
    plan.caller = s.caller;
    plan.requestId = s.requestId;
    if (this.opts.attestationKeys) plan.attestationKeys = this.opts.attestationKeys;
    this.cleanupNowAndThen();
    for (let attempt = 0; attempt < 5; attempt++) {
      // Insert first: exactly one request claims a key (or an expired one, which is claimed afresh).
      const claimed = await this.opts.db.query<{ job_id: string }>(
        `INSERT INTO idempotency_keys (caller, key, request_digest, job_id) VALUES ($1, $2, $3, $4)
         ON CONFLICT (caller, key) DO UPDATE
           SET request_digest = EXCLUDED.request_digest, job_id = EXCLUDED.job_id, created_at = now(), started = false
           WHERE idempotency_keys.created_at < now() - make_interval(secs => $5)
         RETURNING job_id`,
        [s.caller, s.key, digest, newJobId(), this.retentionSeconds],
      );
      if (claimed.rows[0]) return this.start(s, plan, claimed.rows[0].job_id);

      const row = (
        await this.opts.db.query<KeyRow>(
          `SELECT request_digest, job_id, started FROM idempotency_keys WHERE caller = $1 AND key = $2`,
          [s.caller, s.key],
        )
      ).rows[0];
      if (!row) continue; // released by a start that failed, or cleaned up just now: claim again
      if (row.request_digest !== digest) throw new IdempotencyKeyReusedError(s.key);
      return this.replay(s, plan, row);
    }
    throw new Error(`Idempotency-Key "${s.key}": could not claim or read the key`);
  }

  /** Starts the job of a key this request claimed; a failed start releases the key. */
  private async start(s: KeyedSubmission, plan: JobInput, jobId: string): Promise<SubmissionResult> {
    try {
      await startPlannedJob(this.opts.client, plan, {
        taskQueue: this.opts.taskQueue,
        jobId,
        freeze: this.opts.freeze,
      });
    } catch (err) {
      // Another request of the same key found the claim unstarted and started it first (see replay): that is our
      // job, and this request (the one that claimed the key) is still the original: 201, not a replay.
      if (err instanceof WorkflowExecutionAlreadyStartedError)
        return { ...(await this.describe(jobId)), replayed: false };
      await this.opts.db
        .query(`DELETE FROM idempotency_keys WHERE caller = $1 AND key = $2 AND job_id = $3 AND NOT started`, [
          s.caller,
          s.key,
          jobId,
        ])
        .catch(() => undefined);
      throw err;
    }
    await this.markStarted(s, jobId);
    jobsSubmitted.inc({ agent: plan.agent });
    return { id: jobId, status: JobStatus.Running, replayed: false };
  }

  /**
   * The job a key already names. A claim not yet marked started may belong to a request that died between claiming
   * and starting: this request starts it (Temporal refuses a second start of the id, so only one run ever starts).
   */
  private async replay(s: KeyedSubmission, plan: JobInput, row: KeyRow): Promise<SubmissionResult> {
    try {
      return await this.describe(row.job_id);
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
    }
    // Started, but Temporal no longer has it: its history outlived the namespace's retention.
    if (row.started) return { id: row.job_id, status: 'unknown', replayed: true };
    try {
      await startPlannedJob(this.opts.client, plan, {
        taskQueue: this.opts.taskQueue,
        jobId: row.job_id,
        freeze: this.opts.freeze,
      });
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) return this.describe(row.job_id);
      throw err;
    }
    await this.markStarted(s, row.job_id);
    jobsSubmitted.inc({ agent: plan.agent });
    return { id: row.job_id, status: JobStatus.Running, replayed: true };
  }

  private async describe(jobId: string): Promise<SubmissionResult> {
    const d = await this.opts.client.workflow.getHandle(jobId).describe();
    return { id: jobId, status: String(d.searchAttributes.AirlockStatus?.[0] ?? JobStatus.Running), replayed: true };
  }

  private async markStarted(s: KeyedSubmission, jobId: string): Promise<void> {
    await this.opts.db.query(
      `UPDATE idempotency_keys SET started = true WHERE caller = $1 AND key = $2 AND job_id = $3`,
      [s.caller, s.key, jobId],
    );
  }

  /** Deletes expired keys, at most every few minutes per process; a failure waits for the next time. */
  private cleanupNowAndThen(): void {
    if (Date.now() - this.lastCleanup < CLEANUP_EVERY_MS) return;
    this.lastCleanup = Date.now();
    void this.deleteExpired().catch(() => undefined);
  }

  /** Deletes the keys older than the retention; returns how many. */
  async deleteExpired(): Promise<number> {
    const r = await this.opts.db.query<{ n: string }>(
      `WITH gone AS (DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(secs => $1) RETURNING 1)
       SELECT count(*) AS n FROM gone`,
      [this.retentionSeconds],
    );
    return Number(r.rows[0]?.n ?? 0);
  }
}
