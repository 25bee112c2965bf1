import { execFileSync } from 'node:child_process';
import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { join } from 'node:path';
import { openDatabase } from '../../src/audit/db';
import { type Database } from '../../src/core/db';
import { Keyring, keyId } from '../../src/audit/keyring';
import { AuditStore, verifyExport } from '../../src/audit/store';
import { AuditTrailSealedError } from '../../src/core/audit';
import { usePostgresDatabase } from '../helpers/postgres';
import { attestationKeys, testAttestor } from '../helpers/attestation';
import { createAttestor, generateAttestationKey } from '../../src/attestation';
import { commentDigest, type AttestedVote } from '../../src/core/attestation';

const pg = usePostgresDatabase();

/** The database, counting the statements run through it. */
function countingStore(db: Database) {
  let n = 0;
  const counted: Database = {
    kind: db.kind,
    query: (text, params, name) => {
      n++;
      return db.query(text, params, name);
    },
    exec: (sql) => db.exec(sql),
    close: async () => undefined,
  };
  return { db: counted, statements: () => n };
}
const { privateKey, publicKey } = generateKeyPairSync('ed25519');
const signingKey = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const trustedKey = publicKey.export({ type: 'spki', format: 'pem' }).toString();

describe.each([['PostgreSQL', () => openDatabase(pg.url)]])('audit store on %s', (_name, open) => {
  let db: Database;
  let store: AuditStore;
  beforeAll(async () => {
    db = open();
    store = await AuditStore.open(db, signingKey);
  });
  afterAll(async () => {
    await db.close();
  });

  const job = () => `job-${Math.random().toString(36).slice(2)}`;

  test('events chain per job; a repeated key is written once', async () => {
    const id = job();
    const a = await store.append({
      jobId: id,
      key: 'submitted',
      type: 'job.submitted',
      actor: 'ci',
      requestId: 'req-1',
      data: { title: 't' },
    });
    const again = await store.append({ jobId: id, key: 'submitted', type: 'job.submitted', data: { title: 'other' } });
    const b = await store.append({
      jobId: id,
      key: 'decision:s1:1',
      type: 'policy.decision',
      data: { outcome: 'allow' },
    });
    expect(again).toEqual(a);
    expect([a.seq, b.seq]).toEqual([1, 2]);
    expect(b.prevHash).toBe(a.hash);
    expect(await store.verify(id)).toMatchObject({ ok: true, events: 2, signed: false });
  });

  test('concurrent appends to one job keep one unbroken chain', async () => {
    const id = job();
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        store.append({ jobId: id, key: `e${i}`, type: 'action.started', data: { i } }),
      ),
    );
    const events = await store.events(id);
    expect(events.map((e) => e.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(await store.verify(id)).toMatchObject({ ok: true, events: 20 });
  });

  test('two processes writing to one job (each remembering its last head) keep one chain, repeats included', async () => {
    const id = job();
    const other = await AuditStore.open(db, signingKey); // as a second worker process would
    const writers = [store, other, other, store, store, other];
    for (const [i, w] of writers.entries()) {
      await w.append({ jobId: id, key: `e${i}`, type: 'action.started', data: { i } });
      // A retry in the other process of an event already stored: answered with the stored one, no new row.
      const again = await writers[(i + 1) % writers.length].append({
        jobId: id,
        key: `e${i}`,
        type: 'action.started',
        data: { i: -1 },
      });
      expect(again).toMatchObject({ seq: i + 1, data: { i } });
    }
    const events = await store.events(id);
    expect(events.map((e) => [e.seq, e.key])).toEqual(writers.map((_, i) => [i + 1, `e${i}`]));
    expect(await store.verify(id)).toMatchObject({ ok: true, events: writers.length });
  });

  test('events appended together chain in order; appending them again returns the stored ones', async () => {
    const id = job();
    await store.append({ jobId: id, key: 'submitted', type: 'job.submitted', data: {} });
    const both = [
      { jobId: id, key: 'decision:s1:1', type: 'policy.decision' as const, data: { outcome: 'allow' } },
      { jobId: id, key: 'action.started:s1', type: 'action.started' as const, data: { attempt: 1 } },
    ];
    const written = await store.appendAll(both);
    expect(written.map((e) => [e.seq, e.key])).toEqual([
      [2, 'decision:s1:1'],
      [3, 'action.started:s1'],
    ]);
    expect(written[1].prevHash).toBe(written[0].hash);
    // A retry (another process: nothing cached) writes nothing new and answers with what is stored.
    const other = await AuditStore.open(db, signingKey);
    const again = await other.appendAll(both.map((e) => ({ ...e, data: { retried: true } })));
    expect(again.map((e) => [e.seq, e.hash])).toEqual(written.map((e) => [e.seq, e.hash]));
    expect((await store.events(id)).length).toBe(3);
    expect(await store.verify(id)).toMatchObject({ ok: true, events: 3 });
  });

  test('secrets are redacted before they are stored', async () => {
    const id = job();
    const e = await store.append({
      jobId: id,
      key: 'k',
      type: 'action.started',
      data: {
        headers: { authorization: 'Bearer abcdefghijkl', x: { $secret: 'API_TOKEN' } },
        note: 'token xoxb-1234567890-abcdefghij here',
        password: 'hunter2',
      },
    });
    expect(JSON.stringify(e.data)).not.toMatch(/abcdefghijkl|xoxb-1234567890|hunter2/);
    expect(e.data).toMatchObject({
      headers: { authorization: '[redacted]', x: { $secret: 'API_TOKEN' } },
      password: '[redacted]',
    });
  });

  test('the table is append-only, and a tampered row is found and named by verify', async () => {
    const id = job();
    await store.append({ jobId: id, key: 'a', type: 'job.submitted', data: { n: 1 } });
    await store.append({ jobId: id, key: 'b', type: 'policy.decision', data: { outcome: 'deny' } });
    await store.append({ jobId: id, key: 'c', type: 'job.finished', data: { status: 'failed' } });
    await expect(
      db.query(`UPDATE audit_events SET data = '{"outcome":"allow"}' WHERE job_id = $1 AND key = 'b'`, [id]),
    ).rejects.toThrow(/append-only/);
    // Someone with the database owner's rights switches the guard off: the chain still tells.
    await db.exec(`ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only`);
    try {
      await db.query(`UPDATE audit_events SET data = '{"outcome":"allow"}' WHERE job_id = $1 AND key = 'b'`, [id]);
    } finally {
      await db.exec(`ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only`);
    }
    expect(await store.verify(id)).toEqual({
      ok: false,
      seq: 2,
      key: 'b',
      type: 'policy.decision',
      reason: 'its content does not match its hash',
    });
  });

  test('a signed head verifies offline from the export; a truncated export does not', async () => {
    const id = job();
    await store.append({ jobId: id, key: 'a', type: 'job.submitted', data: {} });
    await store.append({ jobId: id, key: 'b', type: 'job.finished', data: { status: 'succeeded' } });
    const head = await store.signHead(id);
    expect(head?.signature).toBeTruthy();
    const jsonl = await store.exportJsonl(id);
    expect(verifyExport(jsonl, trustedKey)).toMatchObject({ ok: true, events: 2, signed: true });
    const lines = jsonl.trim().split('\n');
    const truncated = [lines[0], lines[2]].join('\n');
    expect(verifyExport(truncated, trustedKey)).toMatchObject({
      ok: false,
      reason: 'the chain head does not match the last event',
    });
    const other = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }).toString();
    expect(verifyExport(jsonl, other)).toMatchObject({
      ok: false,
      reason: expect.stringContaining(`signed by key ${head!.keyId}, which is not in the keyring`),
    });
  });

  test('a signed trail is sealed: appends are refused and the signed head does not move', async () => {
    const id = job();
    await store.append({ jobId: id, key: 'a', type: 'job.submitted', data: {} });
    await store.append({ jobId: id, key: 'z', type: 'job.finished', data: { status: 'succeeded' } });
    const signed = await store.signHead(id);
    const late = { jobId: id, key: 'late', type: 'approval.refused' as const, actor: 'dave', data: { code: 'x' } };
    await expect(store.append(late)).rejects.toBeInstanceOf(AuditTrailSealedError);
    await expect(store.appendAll([late, { ...late, key: 'later' }])).rejects.toThrow(/is sealed/);
    // Another process, which never saw this job's head, is refused too (the database decides, not a cache).
    const other = await AuditStore.open(db, signingKey);
    await expect(other.append(late)).rejects.toBeInstanceOf(AuditTrailSealedError);
    // A retried append of an event already in the trail still answers with the stored event.
    expect((await other.append({ jobId: id, key: 'a', type: 'job.submitted', data: {} })).seq).toBe(1);
    expect(await store.head(id)).toEqual(signed);
    expect(await store.verify(id)).toMatchObject({ ok: true, events: 2, signed: true });
    // What happens after the end is kept beside the trail.
    await store.recordOutsideTrail(late);
    await store.recordOutsideTrail(late);
    expect(await store.outsideTrail(id)).toEqual([expect.objectContaining({ key: 'late', actor: 'dave' })]);
    expect(await store.verify(id)).toMatchObject({ ok: true, events: 2, signed: true });
  });

  test("the job's last events and its head's signature are one write; a retry answers as stored", async () => {
    const id = job();
    await store.append({ jobId: id, key: 'submitted', type: 'job.submitted', data: {} });
    const counted = countingStore(db);
    const other = await AuditStore.open(counted.db, signingKey); // a worker that never saw this job
    await store.append({ jobId: id, key: 'a', type: 'action.started', data: {} });
    const before = counted.statements();
    const finished = { jobId: id, key: 'finished', type: 'job.finished' as const, data: { status: 'succeeded' } };
    const [written] = await store.appendAll([finished], { seal: true });
    const head = await store.head(id);
    expect(head).toMatchObject({ seq: 3, hash: written.hash, signature: expect.any(String), keyId: store.keyId });
    expect(await store.verify(id)).toMatchObject({ ok: true, events: 3, signed: true });
    // The activity retried (on another worker): the stored event, the same signature, nothing new.
    const [again] = await other.appendAll([{ ...finished, data: { status: 'other' } }], { seal: true });
    expect(again).toEqual(written);
    expect(await store.head(id)).toEqual(head);
    expect(counted.statements() - before).toBeLessThanOrEqual(3); // the read, and signHead finding it signed
    await expect(store.append({ jobId: id, key: 'late', type: 'action.started', data: {} })).rejects.toBeInstanceOf(
      AuditTrailSealedError,
    );
  });

  test('appends of many jobs under way at once share statements; each chain stays whole', async () => {
    const counted = countingStore(db);
    const shared = await AuditStore.open(counted.db, signingKey);
    const ids = Array.from({ length: 40 }, job);
    const start = counted.statements();
    // A new trail's first event needs no read of its head.
    await Promise.all(ids.map((id) => shared.append({ jobId: id, key: 'submitted', type: 'job.submitted', data: {} })));
    const firsts = counted.statements() - start;
    for (let step = 1; step <= 3; step++)
      await Promise.all(
        ids.map((id) =>
          shared.appendAll([
            { jobId: id, key: `decision:s${step}`, type: 'policy.decision', data: { step } },
            { jobId: id, key: `action.started:s${step}`, type: 'action.started', data: { step } },
          ]),
        ),
      );
    const total = counted.statements() - start;
    // One at a time, that is 160 statements: 40 firsts and 3 × 40 appends. At most 4 run at once, the rest wait and
    // leave together.
    expect(firsts).toBeLessThan(20);
    expect(total).toBeLessThan(60);
    for (const id of ids) {
      expect(await store.verify(id)).toMatchObject({ ok: true, events: 7 });
      expect((await store.events(id)).map((e) => e.key)).toEqual([
        'submitted',
        ...[1, 2, 3].flatMap((s) => [`decision:s${s}`, `action.started:s${s}`]),
      ]);
    }
  });

  test("in a shared statement, one job's refused write, retry or moved head leaves the others written", async () => {
    const counted = countingStore(db);
    const shared = await AuditStore.open(counted.db, signingKey);
    const ids = Array.from({ length: 12 }, job);
    await Promise.all(ids.map((id) => shared.append({ jobId: id, key: 'submitted', type: 'job.submitted', data: {} })));
    const [refused, retried, moved] = ids;
    // Stored already by another process: `retried` is a retry, and `moved`'s head is not where `shared` thinks.
    const other = await AuditStore.open(db, signingKey);
    await other.append({ jobId: retried, key: 'e', type: 'action.started', data: { by: 'other' } });
    await other.append({ jobId: moved, key: 'm', type: 'action.started', data: {} });
    const start = counted.statements();
    const results = await Promise.allSettled(
      ids.map((id) =>
        // PostgreSQL refuses \u0000 in jsonb text (22P05): that write fails, alone.
        shared.append({
          jobId: id,
          key: 'e',
          type: 'action.started',
          data: { note: id === refused ? 'a\u0000b' : 'ok' },
        }),
      ),
    );
    expect(counted.statements() - start).toBeGreaterThan(1);
    expect(results[0]).toMatchObject({ status: 'rejected', reason: expect.objectContaining({ code: '22P05' }) });
    expect(results.slice(1).every((r) => r.status === 'fulfilled')).toBe(true);
    expect((results[1] as PromiseFulfilledResult<{ data: unknown }>).value.data).toEqual({ by: 'other' });
    for (const id of ids.slice(1)) expect(await store.verify(id)).toMatchObject({ ok: true });
    expect((await store.events(moved)).map((e) => e.key)).toEqual(['submitted', 'm', 'e']);
    expect((await store.events(refused)).map((e) => e.key)).toEqual(['submitted']);
    expect((await store.events(ids[5])).map((e) => e.key)).toEqual(['submitted', 'e']);
  });

  test('heads name their key; a keyring holding an old key verifies trails it signed; an unknown key is named', async () => {
    const pem = (k: KeyObject, type: 'pkcs8' | 'spki') => k.export({ type, format: 'pem' }).toString();
    const old = generateKeyPairSync('ed25519');
    const next = generateKeyPairSync('ed25519');
    const before = await AuditStore.open(db, pem(old.privateKey, 'pkcs8'));
    const id = job();
    await before.append({ jobId: id, key: 'a', type: 'job.submitted', data: {} });
    const head = await before.signHead(id);
    const oldId = `ed25519:${createHash('sha256')
      .update(old.publicKey.export({ type: 'spki', format: 'der' }))
      .digest('hex')
      .slice(0, 16)}`;
    expect(head).toMatchObject({ keyId: oldId, signature: expect.any(String) });
    expect(keyId(old.privateKey)).toBe(oldId);

    // After the rotation: the new key alone does not know the old trail, and says which key it lacks.
    const rotated = await AuditStore.open(db, pem(next.privateKey, 'pkcs8'));
    expect(await rotated.verify(id)).toMatchObject({
      ok: false,
      key: '(head)',
      reason: expect.stringContaining(`signed by key ${oldId}, which is not in the keyring (${keyId(next.publicKey)})`),
    });
    // With the old public key in its keyring it does; new trails are signed by the new key.
    const keyring = Keyring.fromPem(pem(old.publicKey, 'spki'));
    const withRing = await AuditStore.open(db, pem(next.privateKey, 'pkcs8'), keyring);
    expect(await withRing.verify(id)).toMatchObject({ ok: true, signed: true });
    const id2 = job();
    await withRing.append({ jobId: id2, key: 'a', type: 'job.submitted', data: {} });
    expect((await withRing.signHead(id2))?.keyId).toBe(keyId(next.publicKey));

    // Offline: the export carries the key that signed it; a keyring of both verifies either trail.
    const both = Keyring.fromPem(`${pem(old.publicKey, 'spki')}\n${pem(next.publicKey, 'spki')}`);
    expect(verifyExport(await withRing.exportJsonl(id), both)).toMatchObject({ ok: true, signed: true });
    expect(verifyExport(await withRing.exportJsonl(id2), both)).toMatchObject({ ok: true, signed: true });
    expect(verifyExport(await withRing.exportJsonl(id), Keyring.fromPem(pem(next.publicKey, 'spki')))).toMatchObject({
      ok: false,
      reason: expect.stringContaining(oldId),
    });
    // A forged head naming a trusted key still fails on its signature.
    const lines = (await withRing.exportJsonl(id)).trim().split('\n');
    const last = JSON.parse(lines.pop()!);
    last.head.keyId = keyId(next.publicKey);
    expect(verifyExport([...lines, JSON.stringify(last)].join('\n'), both)).toMatchObject({
      ok: false,
      reason: 'the head signature is not valid',
    });
  });

  /** A trail whose chain is intact, with one vote recorded as `record` says (by default: as attested). */
  async function trailWithVote(record: (v: Record<string, unknown>) => Record<string, unknown> = (v) => v) {
    const id = job();
    const requestId = `${id}:merge`;
    const policyHash = `sha256:${'a'.repeat(64)}`;
    const digest = `sha256:${'b'.repeat(64)}`;
    const payload: AttestedVote = {
      person: 'alice',
      groups: ['sre'],
      channel: 'api',
      channelIdentity: 'token:test-alice',
      requestId,
      digest,
      policyHash,
      decision: 'approve',
      commentDigest: commentDigest('ok'),
      at: new Date().toISOString(),
      nonce: 'n1',
    };
    const vote = {
      requestId,
      approver: 'alice',
      approverGroups: ['sre'],
      channel: 'api',
      decision: 'approve',
      comment: 'ok',
      digest,
      attestation: testAttestor.attest(payload),
    };
    await store.append({ jobId: id, key: 'submitted', type: 'job.submitted', data: { attestationKeys } });
    await store.append({ jobId: id, key: 'asked', type: 'approval.requested', data: { id: requestId, policyHash } });
    const recorded = record(vote);
    await store.append({
      jobId: id,
      key: 'vote',
      type: 'approval.vote',
      actor: String(recorded.approver),
      data: recorded,
    });
    await store.signHead(id);
    return store.exportJsonl(id);
  }

  test("every vote's attestation verifies offline against the trail's channel keys, or a keyring", async () => {
    const jsonl = await trailWithVote();
    expect(verifyExport(jsonl, trustedKey)).toMatchObject({ ok: true, votes: { total: 1, attested: 1 } });
    expect(verifyExport(jsonl, trustedKey, attestationKeys)).toMatchObject({ ok: true, votes: { keys: 'keyring' } });
    const stranger = createAttestor(generateAttestationKey()).publicKeys();
    expect(verifyExport(jsonl, trustedKey, stranger)).toMatchObject({
      ok: false,
      seq: 3,
      type: 'approval.vote',
      reason: expect.stringContaining('is not one this job trusts'),
    });
  });

  test.each([
    ['a vote recorded for someone else', (v: Record<string, unknown>) => ({ ...v, approver: 'bob' }), /in: person/],
    ['more groups than attested', (v: Record<string, unknown>) => ({ ...v, approverGroups: ['sre', 'x'] }), /groups/],
    ['another comment', (v: Record<string, unknown>) => ({ ...v, comment: 'changed' }), /in: comment/],
    ['no attestation', ({ attestation: _a, ...v }: Record<string, unknown>) => v, /carries no attestation/],
    [
      'a forged signature',
      (v: Record<string, unknown>) => {
        const a = v.attestation as { payload: AttestedVote };
        return { ...v, approver: 'bob', attestation: { ...a, payload: { ...a.payload, person: 'bob' } } };
      },
      /signature is not valid/,
    ],
  ])('an intact chain with %s fails at that vote', async (_what, record, reason) => {
    const result = verifyExport(await trailWithVote(record), trustedKey);
    expect(result).toMatchObject({ ok: false, seq: 3, type: 'approval.vote' });
    expect((result as { reason: string }).reason).toMatch(reason);
  });
});

test('the same store runs on embedded PGlite (airlock dev), in a real Node process', () => {
  // PGlite loads its WASM with a dynamic import(), which jest's CommonJS sandbox does not allow: run it for real.
  const out = execFileSync(
    process.execPath,
    ['-r', 'tsx/cjs', join(__dirname, '..', 'fixtures', 'pglite-roundtrip.ts')],
    {
      encoding: 'utf8',
      env: { ...process.env, SIGNING_KEY: signingKey, TRUSTED_KEY: trustedKey },
    },
  );
  expect(JSON.parse(out)).toEqual({
    idempotent: true,
    noteKept: true,
    shared: true,
    sharedNoteKept: true,
    verified: { ok: true, events: 3, head: expect.stringMatching(/^sha256:/), signed: true },
    offline: {
      ok: true,
      events: 3,
      head: expect.stringMatching(/^sha256:/),
      signed: true,
      votes: { total: 0, attested: 0, keys: 'trail' },
    },
    tampered: { ok: false, seq: 2, key: 'b', type: 'policy.decision', reason: 'its content does not match its hash' },
  });
});
