/**
 * The audit trail: per job, an append-only list of events, each hashed over the previous one, so altering,
 * removing or reordering a stored event breaks the chain at that event. When a job ends its head is signed
 * (Ed25519), so an exported trail can be verified offline. Appends are idempotent by (job, key): an activity that
 * retries writes its event once.
 */
import { LRUCache } from 'lru-cache';
import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import canonicalize from 'canonicalize';
import { AuditEventType, type AuditEventInput } from '../core/audit';
import type { Database } from '../core/db';
import { redact } from '../core/redact';

export const GENESIS = `sha256:${'0'.repeat(64)}`;

export interface AuditEvent extends AuditEventInput {
  seq: number;
  at: string;
  prevHash: string;
  hash: string;
}

export interface ChainHead {
  jobId: string;
  seq: number;
  hash: string;
  signature?: string;
  signedAt?: string;
}

export type Verification =
  | { ok: true; events: number; head: string; signed: boolean }
  | { ok: false; seq: number; key: string; type: string; reason: string };

// One transaction (a multi-statement query is one) that first takes a lock: processes starting together on an empty
// database would otherwise race in CREATE TABLE IF NOT EXISTS and all but one fail (pg_type unique violation).
const MIGRATIONS = `
SELECT pg_advisory_xact_lock(hashtext('airlock.audit.migrations'));
CREATE TABLE IF NOT EXISTS audit_events (
  job_id text NOT NULL,
  seq integer NOT NULL,
  key text NOT NULL,
  type text NOT NULL,
  at timestamptz NOT NULL,
  actor text,
  request_id text,
  data jsonb NOT NULL,
  prev_hash text NOT NULL,
  hash text NOT NULL,
  PRIMARY KEY (job_id, seq),
  UNIQUE (job_id, key)
);
CREATE TABLE IF NOT EXISTS audit_heads (
  job_id text PRIMARY KEY,
  seq integer NOT NULL,
  hash text NOT NULL,
  signature text,
  signed_at timestamptz
);
CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'audit_events is append-only';
END
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS audit_events_append_only ON audit_events;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
  FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
`;

/** The hash of an event: over the previous hash and the canonical JSON (RFC 8785) of everything it says. */
export function eventHash(e: Omit<AuditEvent, 'hash'>): string {
  const body = canonicalize({
    jobId: e.jobId,
    seq: e.seq,
    key: e.key,
    type: e.type,
    at: e.at,
    actor: e.actor ?? null,
    requestId: e.requestId ?? null,
    data: e.data,
    prevHash: e.prevHash,
  });
  return `sha256:${createHash('sha256').update(body!).digest('hex')}`;
}

/** Checks a list of events (in seq order) and, when given, the head signature. Pure: used online and offline. */
export function verifyChain(events: AuditEvent[], head?: ChainHead, publicKey?: KeyObject): Verification {
  let prev = GENESIS;
  for (const [i, e] of events.entries()) {
    const fail = (reason: string): Verification => ({ ok: false, seq: e.seq, key: e.key, type: e.type, reason });
    if (e.seq !== i + 1) return fail(`expected event ${i + 1}, found ${e.seq}`);
    if (e.prevHash !== prev) return fail('does not follow the previous event');
    if (eventHash(e) !== e.hash) return fail('its content does not match its hash');
    prev = e.hash;
  }
  const last = events.at(-1);
  if (head) {
    if (!last || head.seq !== last.seq || head.hash !== last.hash) {
      return {
        ok: false,
        seq: head.seq,
        key: '(head)',
        type: '(head)',
        reason: 'the chain head does not match the last event',
      };
    }
    if (
      head.signature &&
      publicKey &&
      !verify(null, Buffer.from(head.hash), publicKey, Buffer.from(head.signature, 'base64'))
    ) {
      return { ok: false, seq: head.seq, key: '(head)', type: '(head)', reason: 'the head signature is not valid' };
    }
  }
  return { ok: true, events: events.length, head: prev, signed: Boolean(head?.signature) };
}

interface Row {
  job_id: string;
  seq: number;
  key: string;
  type: string;
  at: Date | string;
  actor: string | null;
  request_id: string | null;
  data: Record<string, unknown>;
  prev_hash: string;
  hash: string;
}

const fromRow = (r: Row): AuditEvent => ({
  jobId: r.job_id,
  seq: r.seq,
  key: r.key,
  type: r.type as AuditEventType,
  at: new Date(r.at).toISOString(),
  ...(r.actor ? { actor: r.actor } : {}),
  ...(r.request_id ? { requestId: r.request_id } : {}),
  data: r.data,
  prevHash: r.prev_hash,
  hash: r.hash,
});

type HeadRow = { seq: number; hash: string; signature: string | null; signed_at: Date | null };
const HEAD_COLUMNS = 'seq, hash, signature, signed_at';
const toHead = (jobId: string, r: HeadRow): ChainHead => ({
  jobId,
  seq: r.seq,
  hash: r.hash,
  ...(r.signature ? { signature: r.signature, signedAt: new Date(r.signed_at!).toISOString() } : {}),
});

/** How many jobs' chain heads a process remembers (the jobs it is writing for right now). */
const HEAD_CACHE_SIZE = 10_000;

export class AuditStore {
  /** The last head this process wrote per job: a guess that saves the read; a stale guess costs one retry. */
  private readonly heads = new LRUCache<string, { seq: number; hash: string }>({ max: HEAD_CACHE_SIZE });

  private constructor(
    readonly db: Database,
    private readonly signingKey?: KeyObject,
  ) {}

  /** Opens the store and runs its migrations. */
  static async open(db: Database, signingKeyPem?: string): Promise<AuditStore> {
    await db.exec(MIGRATIONS);
    return new AuditStore(db, signingKeyPem ? createPrivateKey(signingKeyPem) : undefined);
  }

  publicKeyPem(): string | undefined {
    return this.signingKey
      ? createPublicKey(this.signingKey).export({ type: 'spki', format: 'pem' }).toString()
      : undefined;
  }

  /** Appends one event once: the same (job, key) returns the event already stored. */
  async append(input: AuditEventInput): Promise<AuditEvent> {
    return (await this.appendAll([input]))[0];
  }

  /**
   * Appends events of one job, in order, each once. One statement moves the head only if it is still where we think
   * it is and inserts the events. Where we think it is: the head this process last wrote for the job (one round
   * trip), else read it with any of these keys already stored (two). A concurrent append to the same job makes it read
   * again; keys already stored (a retry) are answered with the stored events, one at a time.
   */
  async appendAll(inputs: AuditEventInput[]): Promise<AuditEvent[]> {
    const { jobId } = inputs[0];
    if (inputs.some((i) => i.jobId !== jobId)) throw new Error('appendAll: events of one job only');
    const data = inputs.map((i) => redact(i.data));
    let head = this.heads.get(jobId);
    for (let attempt = 0; ; attempt++) {
      if (!head) {
        const rows = (
          await this.db.query<Row & { head_seq: number | null; head_hash: string | null }>(
            `SELECT h.seq AS head_seq, h.hash AS head_hash, e.*
             FROM (SELECT $1::text AS job_id) j
             LEFT JOIN audit_heads h ON h.job_id = j.job_id
             LEFT JOIN audit_events e ON e.job_id = j.job_id AND e.key = ANY($2::text[])`,
            [jobId, inputs.map((i) => i.key)],
          )
        ).rows;
        if (rows.some((r) => r.key)) {
          if (inputs.length === 1) return [fromRow(rows[0])];
          const out: AuditEvent[] = [];
          for (const input of inputs) out.push(await this.append(input));
          return out;
        }
        head = { seq: rows[0].head_seq ?? 0, hash: rows[0].head_hash ?? GENESIS };
      }
      const events: AuditEvent[] = [];
      let prev = head;
      for (const [k, input] of inputs.entries()) {
        const event: Omit<AuditEvent, 'hash'> = {
          jobId,
          seq: prev.seq + 1,
          key: input.key,
          type: input.type,
          at: new Date().toISOString(),
          ...(input.actor ? { actor: input.actor } : {}),
          ...(input.requestId ? { requestId: input.requestId } : {}),
          data: data[k],
          prevHash: prev.hash,
        };
        const hash = eventHash(event);
        events.push({ ...event, hash });
        prev = { seq: event.seq, hash };
      }
      // $1 job, $2/$3 the new head; the head moves only from exactly the event the first one chains to ($4/$5).
      const first = events[0];
      const params: unknown[] = [jobId, prev.seq, prev.hash];
      const moveHead =
        first.seq === 1
          ? `INSERT INTO audit_heads (job_id, seq, hash) VALUES ($1, $2, $3) ON CONFLICT (job_id) DO NOTHING`
          : `UPDATE audit_heads SET seq = $2, hash = $3, signature = NULL, signed_at = NULL
              WHERE job_id = $1 AND seq = $4 AND hash = $5`;
      if (first.seq > 1) params.push(first.seq - 1, first.prevHash);
      const values = events.map((e) => {
        const at = params.length;
        params.push(e.seq, e.key, e.type, e.at, e.actor ?? null, e.requestId ?? null, JSON.stringify(e.data));
        params.push(e.prevHash, e.hash);
        const $ = (n: number) => `$${at + n}`;
        return `($1::text, ${$(1)}::integer, ${$(2)}::text, ${$(3)}::text, ${$(4)}::timestamptz, ${$(5)}::text, ${$(6)}::text, ${$(7)}::jsonb, ${$(8)}::text, ${$(9)}::text)`;
      });
      try {
        const inserted = await this.db.query(
          `WITH head AS (${moveHead} RETURNING seq)
           INSERT INTO audit_events (job_id, seq, key, type, at, actor, request_id, data, prev_hash, hash)
           SELECT v.* FROM (VALUES ${values.join(', ')}) AS v, head
           RETURNING seq`,
          params,
        );
        if (inserted.rows.length === events.length) {
          this.heads.set(jobId, prev);
          return events;
        }
      } catch (err) {
        // A key is already stored (a retry, or a concurrent append): read again.
        if ((err as { code?: string }).code !== '23505') throw err;
      }
      head = undefined;
      this.heads.delete(jobId);
      if (attempt > 1000) throw new Error(`audit append for ${jobId} kept losing races`);
    }
  }

  async events(jobId: string): Promise<AuditEvent[]> {
    return (await this.db.query<Row>(`SELECT * FROM audit_events WHERE job_id = $1 ORDER BY seq`, [jobId])).rows.map(
      fromRow,
    );
  }

  async head(jobId: string): Promise<ChainHead | undefined> {
    const r = (await this.db.query<HeadRow>(`SELECT ${HEAD_COLUMNS} FROM audit_heads WHERE job_id = $1`, [jobId]))
      .rows[0];
    return r && toHead(jobId, r);
  }

  /**
   * Signs the current head (when a job ends). Idempotent for an unchanged head. The head this process just wrote is
   * signed in one statement; without one (or if it has moved on since), the stored head is read first.
   */
  async signHead(jobId: string): Promise<ChainHead | undefined> {
    const known = this.heads.get(jobId);
    this.heads.delete(jobId); // the job has ended
    if (!this.signingKey) return this.head(jobId);
    const head = known ?? (await this.head(jobId));
    if (!head) return undefined;
    if ('signature' in head && head.signature) return head as ChainHead;
    const signature = sign(null, Buffer.from(head.hash), this.signingKey).toString('base64');
    const r = (
      await this.db.query<HeadRow>(
        `UPDATE audit_heads SET signature = $3, signed_at = now() WHERE job_id = $1 AND hash = $2
         RETURNING ${HEAD_COLUMNS}`,
        [jobId, head.hash, signature],
      )
    ).rows[0];
    if (r) return toHead(jobId, r);
    return known ? this.signHead(jobId) : this.head(jobId);
  }

  async verify(jobId: string): Promise<Verification> {
    const key = this.signingKey ? createPublicKey(this.signingKey) : undefined;
    return verifyChain(await this.events(jobId), await this.head(jobId), key);
  }

  /** JSON Lines: every event, then one line with the head, its signature and the public key to check it offline. */
  async exportJsonl(jobId: string): Promise<string> {
    const lines = (await this.events(jobId)).map((e) => JSON.stringify(e));
    lines.push(JSON.stringify({ head: await this.head(jobId), publicKey: this.publicKeyPem() ?? null }));
    return `${lines.join('\n')}\n`;
  }
}

/** Verifies an exported trail offline (`airlock audit verify`), against a public key the verifier trusts. */
export function verifyExport(jsonl: string, trustedPublicKeyPem?: string): Verification {
  const lines = jsonl
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  const last = lines.pop() as { head?: ChainHead; publicKey?: string | null };
  const pem = trustedPublicKeyPem ?? last.publicKey ?? undefined;
  return verifyChain(lines as unknown as AuditEvent[], last.head, pem ? createPublicKey(pem) : undefined);
}
