/**
 * Group commit for audit appends. Each write is one job's events, valid only if the job's chain head is still the
 * one they chain to. Writes of different jobs that are under way at the same moment go to the database as one
 * statement: one round trip and one commit instead of one each (under load, most of the audit's cost). Nothing waits
 * to fill a batch: a write goes out at once while fewer than MAX_IN_FLIGHT statements are running, and the writes
 * that arrive meanwhile leave together when one returns. Each job's part is still all-or-nothing, as alone: its
 * events go in only where its head moved.
 */
import type { Queryable } from '../core/db';

/** An event as the store has chained it (the store's AuditEvent). */
interface ChainedEvent {
  jobId: string;
  seq: number;
  key: string;
  type: string;
  at: string;
  actor?: string;
  requestId?: string;
  data: unknown;
  prevHash: string;
  hash: string;
}

/** One job's append: its events, the head they chain to (seq 0: a new trail), and the head's signature if it ends. */
export interface HeadWrite {
  jobId: string;
  from: { seq: number; hash: string };
  events: ChainedEvent[];
  seal?: { signature: string; keyId: string };
}

/** Statements running at once; the rest of the pool stays free for reads and other tables. */
const MAX_IN_FLIGHT = 4;
/** Jobs per statement (its parameters are arrays: the statement text stays the same for any count). */
const MAX_JOBS = 100;

// The heads move first (only from where each write expects them; a new trail's head only if none exists), then the
// events of the jobs whose head moved go in. A key already stored fails the whole statement (23505).
const WRITE = `
WITH v AS (
  SELECT * FROM unnest($1::text[], $2::integer[], $3::text[], $4::integer[], $5::text[], $6::text[], $7::text[])
    AS v(job_id, from_seq, from_hash, to_seq, to_hash, signature, key_id)
), moved AS (
  UPDATE audit_heads h
     SET seq = v.to_seq, hash = v.to_hash, signature = v.signature, key_id = v.key_id,
         signed_at = CASE WHEN v.signature IS NULL THEN NULL ELSE now() END
    FROM v
   WHERE v.from_seq > 0 AND h.job_id = v.job_id AND h.seq = v.from_seq AND h.hash = v.from_hash
     AND h.signature IS NULL
  RETURNING h.job_id
), created AS (
  INSERT INTO audit_heads (job_id, seq, hash, signature, signed_at, key_id)
  SELECT job_id, to_seq, to_hash, signature, CASE WHEN signature IS NULL THEN NULL ELSE now() END, key_id
    FROM v WHERE from_seq = 0
  ON CONFLICT (job_id) DO NOTHING
  RETURNING job_id
)
INSERT INTO audit_events (job_id, seq, key, type, at, actor, request_id, data, prev_hash, hash)
SELECT e.* FROM unnest($8::text[], $9::integer[], $10::text[], $11::text[], $12::timestamptz[], $13::text[],
                       $14::text[], $15::jsonb[], $16::text[], $17::text[])
    AS e(job_id, seq, key, type, at, actor, request_id, data, prev_hash, hash)
 WHERE e.job_id IN (SELECT job_id FROM moved UNION ALL SELECT job_id FROM created)
RETURNING job_id`;

/** An event's columns as audit_events orders them (job_id first). */
const eventRow = (e: ChainedEvent): unknown[] => [
  e.jobId,
  e.seq,
  e.key,
  e.type,
  e.at,
  e.actor ?? null,
  e.requestId ?? null,
  JSON.stringify(e.data),
  e.prevHash,
  e.hash,
];

interface Pending {
  write: HeadWrite;
  done: (written: boolean) => void;
  failed: (err: unknown) => void;
}

export class AppendBatcher {
  private readonly queue: Pending[] = [];
  private inFlight = 0;
  /** Jobs with a write in a running statement: a job's next write waits for it (it chains to what that one wrote). */
  private readonly busy = new Set<string>();

  constructor(private readonly db: Queryable) {}

  /** Resolves true when written, false when the job's head was not where the write expected (read it again). */
  write(write: HeadWrite): Promise<boolean> {
    return new Promise((done, failed) => {
      this.queue.push({ write, done, failed });
      this.pump();
    });
  }

  private pump() {
    while (this.inFlight < MAX_IN_FLIGHT && this.queue.length) {
      const batch: Pending[] = [];
      for (let i = 0; i < this.queue.length && batch.length < MAX_JOBS;) {
        const p = this.queue[i];
        if (this.busy.has(p.write.jobId)) i++;
        else {
          this.busy.add(p.write.jobId);
          batch.push(p);
          this.queue.splice(i, 1);
        }
      }
      if (!batch.length) return; // every queued write waits for its job's running one
      this.inFlight++;
      void this.run(batch).finally(() => {
        this.inFlight--;
        for (const p of batch) this.busy.delete(p.write.jobId);
        this.pump();
      });
    }
  }

  private async run(batch: Pending[]): Promise<void> {
    let written: Set<string>;
    try {
      written = await this.send(batch.map((p) => p.write));
    } catch (err) {
      if (batch.length > 1) {
        // One job's write failed them all (a key already stored, data the database refuses, a deadlock with another
        // process): each alone, one after another in this statement's place, so only that one sees its error.
        for (const p of batch) await this.run([p]);
        return;
      }
      // A key already stored: a retry, or a concurrent append that got there first. The caller reads again.
      if ((err as { code?: string }).code === '23505') batch[0].done(false);
      else batch[0].failed(err);
      return;
    }
    for (const p of batch) p.done(written.has(p.write.jobId));
  }

  /** One statement for these writes (distinct jobs); returns the jobs whose events went in. */
  private async send(writes: HeadWrite[]): Promise<Set<string>> {
    if (writes.length === 1) return (await this.sendOne(writes[0])) ? new Set([writes[0].jobId]) : new Set();
    // In job order: statements of two processes touching the same heads tend to take their locks in one order.
    writes = [...writes].sort((a, b) => (a.jobId < b.jobId ? -1 : a.jobId > b.jobId ? 1 : 0));
    const heads: unknown[][] = [[], [], [], [], [], [], []];
    const events: unknown[][] = [[], [], [], [], [], [], [], [], [], []];
    for (const w of writes) {
      const last = w.events[w.events.length - 1];
      [w.jobId, w.from.seq, w.from.hash, last.seq, last.hash, w.seal?.signature ?? null, w.seal?.keyId ?? null].forEach(
        (x, i) => heads[i].push(x),
      );
      for (const e of w.events) eventRow(e).forEach((x, i) => events[i].push(x));
    }
    const rows = (await this.db.query<{ job_id: string }>(WRITE, [...heads, ...events], 'airlock.audit.append')).rows;
    const count = new Map<string, number>();
    for (const r of rows) count.set(r.job_id, (count.get(r.job_id) ?? 0) + 1);
    return new Set(writes.filter((w) => count.get(w.jobId) === w.events.length).map((w) => w.jobId));
  }

  /**
   * One job's write alone, as a statement of its own shape (VALUES, not arrays): the common case when the database
   * keeps up, and about a third faster than the shared statement's unnest for one job (measured: 0.36 vs 0.53 ms).
   */
  private async sendOne(w: HeadWrite): Promise<boolean> {
    const first = w.events[0];
    const last = w.events[w.events.length - 1];
    // $1 job, $2/$3 the new head, $4/$5 its signature and key (null unless sealing); the head moves only from exactly
    // the event the first one chains to ($6/$7).
    const params: unknown[] = [w.jobId, last.seq, last.hash, w.seal?.signature ?? null, w.seal?.keyId ?? null];
    const signed =
      'signature = $4::text, key_id = $5::text, signed_at = CASE WHEN $4::text IS NULL THEN NULL ELSE now() END';
    const moveHead =
      w.from.seq === 0
        ? `INSERT INTO audit_heads (job_id, seq, hash, signature, key_id, signed_at)
           VALUES ($1, $2, $3, $4::text, $5::text, CASE WHEN $4::text IS NULL THEN NULL ELSE now() END)
           ON CONFLICT (job_id) DO NOTHING`
        : `UPDATE audit_heads SET seq = $2, hash = $3, ${signed}
            WHERE job_id = $1 AND seq = $6 AND hash = $7 AND signature IS NULL`;
    if (w.from.seq > 0) params.push(w.from.seq, w.from.hash);
    const values = w.events.map((e) => {
      const at = params.length;
      params.push(...eventRow(e).slice(1)); // the job is $1
      const $ = (n: number) => `$${at + n}`;
      return `($1::text, ${$(1)}::integer, ${$(2)}::text, ${$(3)}::text, ${$(4)}::timestamptz, ${$(5)}::text, ${$(6)}::text, ${$(7)}::jsonb, ${$(8)}::text, ${$(9)}::text)`;
    });
    const rows = (
      await this.db.query(
        `WITH head AS (${moveHead} RETURNING seq)
         INSERT INTO audit_events (job_id, seq, key, type, at, actor, request_id, data, prev_hash, hash)
         SELECT v.* FROM (VALUES ${values.join(', ')}) AS v, head
         RETURNING seq`,
        params,
        // The text depends only on whether the head is new and how many events: a handful of shapes.
        `airlock.audit.append.${first.seq === 1 ? 'first' : 'next'}.${w.events.length}`,
      )
    ).rows;
    return rows.length === w.events.length;
  }
}
