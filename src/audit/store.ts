/**
 * The audit trail: per job, an append-only list of events, each hashed over the previous one, so altering,
 * removing or reordering a stored event breaks the chain at that event. When a job ends its head is signed
 * (Ed25519) and names the key that signed it, so an exported trail can be verified offline against a keyring; a
 * signed trail is sealed: later appends are refused, and what happens after the end (a vote on an ended job) is kept
 * beside it in audit_refusals. Appends are idempotent by (job, key): an activity that retries writes its event once.
 */
import { LRUCache } from 'lru-cache';
import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { Keyring } from './keyring';
import canonicalize from 'canonicalize';
import type { AttestationKey } from '../core/attestation';
import { AuditEventType, AuditTrailSealedError, type AuditEventInput } from '../core/audit';
import type { Database } from '../core/db';
import { redact } from '../core/redact';
import { verifyVotes } from './votes';
import { AppendBatcher } from './batch';

export const GENESIS = `sha256:${'0'.repeat(64)}`;
/** The head of a trail with no event yet. */
const NEW_TRAIL = { seq: 0, hash: GENESIS };

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
  /** The id of the key that signed the head (`ed25519:<16 hex>`); absent on heads signed before key ids. */
  keyId?: string;
}

export type Verification =
  | {
      ok: true;
      events: number;
      head: string;
      signed: boolean;
      /** Offline verification: approval votes, and how many carry a valid channel attestation. */
      votes?: { total: number; attested: number; keys: 'keyring' | 'trail' };
    }
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
CREATE TABLE IF NOT EXISTS step_outputs (
  job_id text NOT NULL,
  step_id text NOT NULL,
  output text NOT NULL,
  output_digest text NOT NULL,
  bytes integer NOT NULL,
  stored_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (job_id, step_id)
);
ALTER TABLE audit_heads ADD COLUMN IF NOT EXISTS key_id text;
CREATE TABLE IF NOT EXISTS audit_refusals (
  job_id text NOT NULL,
  key text NOT NULL,
  type text NOT NULL,
  at timestamptz NOT NULL DEFAULT now(),
  actor text,
  request_id text,
  data jsonb NOT NULL,
  PRIMARY KEY (job_id, key)
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

/**
 * Checks a list of events (in seq order) and, when a keyring is given, the head signature with the key the head
 * names. A head without a key id (signed before heads named their key) is checked against every key of the ring.
 * Pure: used online and offline.
 */
export function verifyChain(events: AuditEvent[], head?: ChainHead, keyring?: Keyring): Verification {
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
    if (head.signature && keyring) {
      const headFail = (reason: string): Verification => ({
        ok: false,
        seq: head.seq,
        key: '(head)',
        type: '(head)',
        reason,
      });
      const candidates = head.keyId ? [keyring.get(head.keyId)].filter((k) => k !== undefined) : keyring.all();
      if (!candidates.length)
        return headFail(
          `the head is signed by key ${head.keyId ?? '(unnamed)'}, which is not in the keyring (${keyring.ids().join(', ') || 'empty'})`,
        );
      const signature = Buffer.from(head.signature, 'base64');
      if (!candidates.some((k) => verify(null, Buffer.from(head.hash), k, signature)))
        return headFail('the head signature is not valid');
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

type HeadRow = { seq: number; hash: string; signature: string | null; signed_at: Date | null; key_id: string | null };
const HEAD_COLUMNS = 'seq, hash, signature, signed_at, key_id';
const toHead = (jobId: string, r: HeadRow): ChainHead => ({
  jobId,
  seq: r.seq,
  hash: r.hash,
  ...(r.signature ? { signature: r.signature, signedAt: new Date(r.signed_at!).toISOString() } : {}),
  ...(r.key_id ? { keyId: r.key_id } : {}),
});

/** How many jobs' chain heads a process remembers (the jobs it is writing for right now). */
const HEAD_CACHE_SIZE = 10_000;

export class AuditStore {
  /** The last head this process wrote per job: a guess that saves the read; a stale guess costs one retry. */
  private readonly heads = new LRUCache<string, { seq: number; hash: string }>({ max: HEAD_CACHE_SIZE });
  private readonly batcher: AppendBatcher;

  /** The keys heads are verified with: the signing key's public half, and the older keys the operator keeps. */
  readonly keyring: Keyring;
  /** The id of the key this process signs heads with. */
  readonly keyId?: string;

  private constructor(
    readonly db: Database,
    private readonly signingKey?: KeyObject,
    keyring?: Keyring,
  ) {
    this.keyring = new Keyring().merge(keyring ?? new Keyring());
    if (signingKey) this.keyId = this.keyring.add(signingKey);
    this.batcher = new AppendBatcher(db);
  }

  /**
   * Opens the store and runs its migrations. `keyring`: public keys besides the signing key's that verification
   * trusts (keys heads were signed with before a rotation).
   */
  static async open(db: Database, signingKeyPem?: string, keyring?: Keyring): Promise<AuditStore> {
    await db.exec(MIGRATIONS);
    return new AuditStore(db, signingKeyPem ? createPrivateKey(signingKeyPem) : undefined, keyring);
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
   * Appends events of one job, in order, each once; with `seal`, the head they end on is signed in the same write
   * (a job's last events). One statement moves the head only if it is still where we think it is and inserts the
   * events. Where we think it is: the head this process last wrote for the job, or nothing yet when the first event
   * is the job's submission (one round trip); else read it with any of these keys already stored (two). A concurrent
   * append to the same job makes it read again; keys already stored (a retry) are answered with the stored events, one
   * at a time. Writes of different jobs under way at the same moment share one statement (the batcher below).
   */
  async appendAll(inputs: AuditEventInput[], opts: { seal?: boolean } = {}): Promise<AuditEvent[]> {
    const { jobId } = inputs[0];
    if (inputs.some((i) => i.jobId !== jobId)) throw new Error('appendAll: events of one job only');
    const data = inputs.map((i) => redact(i.data));
    // A trail starts with the job's submission: on a miss, guess it is new (a wrong guess costs the read below).
    let head = this.heads.get(jobId) ?? (inputs[0].type === AuditEventType.JobSubmitted ? NEW_TRAIL : undefined);
    for (let attempt = 0; ; attempt++) {
      if (!head) {
        const rows = (
          await this.db.query<
            Row & { head_seq: number | null; head_hash: string | null; head_signature: string | null }
          >(
            // Columns named, not e.*: a prepared statement's result columns must not change under it (a migration
            // adding a column would fail it on connections prepared before).
            `SELECT h.seq AS head_seq, h.hash AS head_hash, h.signature AS head_signature, e.job_id, e.seq, e.key, e.type,
                    e.at, e.actor, e.request_id, e.data, e.prev_hash, e.hash
             FROM (SELECT $1::text AS job_id) j
             LEFT JOIN audit_heads h ON h.job_id = j.job_id
             LEFT JOIN audit_events e ON e.job_id = j.job_id AND e.key = ANY($2::text[])`,
            [jobId, inputs.map((i) => i.key)],
            'airlock.audit.read-head',
          )
        ).rows;
        if (rows.some((r) => r.key)) {
          const out: AuditEvent[] = [];
          if (inputs.length === 1) out.push(fromRow(rows[0]));
          else for (const input of inputs) out.push(await this.append(input));
          // Stored by an earlier try, which may have ended before signing (a store from before sealing in one write).
          if (opts.seal) await this.signHead(jobId);
          return out;
        }
        // A signed head is a finished job's: its trail is sealed.
        if (rows[0].head_signature) throw new AuditTrailSealedError(jobId);
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
      const seal =
        opts.seal && this.signingKey
          ? { signature: sign(null, Buffer.from(prev.hash), this.signingKey).toString('base64'), keyId: this.keyId! }
          : undefined;
      if (await this.batcher.write({ jobId, from: head, events, seal })) {
        if (opts.seal)
          this.heads.delete(jobId); // the job has ended
        else this.heads.set(jobId, prev);
        return events;
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
        `UPDATE audit_heads SET signature = $3, signed_at = now(), key_id = $4
         WHERE job_id = $1 AND hash = $2 AND signature IS NULL
         RETURNING ${HEAD_COLUMNS}`,
        [jobId, head.hash, signature, this.keyId],
        'airlock.audit.sign-head',
      )
    ).rows[0];
    if (r) return toHead(jobId, r);
    return known ? this.signHead(jobId) : this.head(jobId);
  }

  /** Checks the chain, and the head's signature against the store's keyring (a key it lacks fails, named). */
  async verify(jobId: string): Promise<Verification> {
    return verifyChain(await this.events(jobId), await this.head(jobId), this.keyring);
  }

  /**
   * Records an event about a job whose trail is sealed in audit_refusals, beside the trail: the trail and its
   * signature stay as they were. Once per (job, key).
   */
  async recordOutsideTrail(input: AuditEventInput): Promise<void> {
    await this.db.query(
      `INSERT INTO audit_refusals (job_id, key, type, actor, request_id, data) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT DO NOTHING`,
      [
        input.jobId,
        input.key,
        input.type,
        input.actor ?? null,
        input.requestId ?? null,
        JSON.stringify(redact(input.data)),
      ],
    );
  }

  /** What was recorded about a job after its trail was sealed, oldest first. */
  async outsideTrail(jobId: string): Promise<Omit<AuditEvent, 'seq' | 'prevHash' | 'hash'>[]> {
    const rows = (
      await this.db.query<Omit<Row, 'seq' | 'prev_hash' | 'hash'>>(
        `SELECT job_id, key, type, at, actor, request_id, data FROM audit_refusals WHERE job_id = $1 ORDER BY at, key`,
        [jobId],
      )
    ).rows;
    return rows.map((r) => ({
      jobId: r.job_id,
      key: r.key,
      type: r.type as AuditEventType,
      at: new Date(r.at).toISOString(),
      ...(r.actor ? { actor: r.actor } : {}),
      ...(r.request_id ? { requestId: r.request_id } : {}),
      data: r.data,
    }));
  }

  /**
   * JSON Lines: every event, then one line with the head (naming its key), its signature and the public key that
   * signed it (when the store's keyring holds it), to check it offline.
   */
  async exportJsonl(jobId: string): Promise<string> {
    return exportLines(await this.events(jobId), await this.head(jobId), await this.headKeyPem(jobId));
  }

  /** The PEM public key of the key that signed the job's head (the export's last line carries it), or null. */
  async headKeyPem(jobId: string): Promise<string | null> {
    const head = await this.head(jobId);
    return (head?.keyId ? this.keyring.pem(head.keyId) : this.publicKeyPem()) ?? null;
  }
}

/**
 * The export format (JSON Lines): each event, then `{head, publicKey}`. Built the same from the store or from the
 * API's GET /v1/jobs/:id/audit (the CLI's export while a stack owns an embedded store).
 */
export function exportLines(events: unknown[], head: unknown, publicKey: string | null | undefined): string {
  const lines = events.map((e) => JSON.stringify(e));
  lines.push(JSON.stringify({ head: head ?? undefined, publicKey: publicKey ?? null }));
  return `${lines.join('\n')}\n`;
}

/**
 * Verifies an exported trail offline (`airlock audit verify`) against the keys the verifier trusts (a keyring, or one
 * PEM public key; without either, the key the export carries, which proves only that the trail is intact): the hash
 * chain, the head signature, then every vote's attestation (against `attestationKeys`, or the channel keys recorded
 * in the trail's job.submitted event, which the chain covers).
 */
export function verifyExport(
  jsonl: string,
  trusted?: Keyring | string,
  attestationKeys?: AttestationKey[],
): Verification {
  const lines = jsonl
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  const last = lines.pop() as { head?: ChainHead; publicKey?: string | null };
  const ring =
    typeof trusted === 'string'
      ? Keyring.fromPem(trusted)
      : (trusted ?? (last.publicKey ? Keyring.fromPem(last.publicKey, 'the export') : undefined));
  const events = lines as unknown as AuditEvent[];
  const chain = verifyChain(events, last.head, ring);
  if (!chain.ok) return chain;
  const votes = verifyVotes(events, attestationKeys);
  if (!votes.ok) return votes;
  return { ...chain, votes: { total: votes.votes, attested: votes.attested, keys: votes.keys } };
}
