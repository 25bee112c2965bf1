/**
 * Fault suite: the audit store's PostgreSQL is unreachable for 30 s (a TCP proxy in front of the shared server is
 * stopped, cutting every connection, then started again) while a job is approved and acts. Activities wait and retry;
 * no audit event is lost or duplicated and the chain verifies afterwards.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { builtinRegistry } from '../../activities';
import { openDatabase } from '../../src/audit/db';
import { AuditStore } from '../../src/audit/store';
import { submitJob } from '../../src/jobs/submit';
import { pendingRequest, vote } from '../helpers/approvals';
import { attestationKeys } from '../helpers/attestation';
import { makeRepo } from '../helpers/git';
import { usePostgresDatabase } from '../helpers/postgres';
import { startTcpProxy } from '../helpers/tcp-proxy';
import { uniqueId, useTemporalServer } from '../helpers/temporal';
import { spawnWorker, type WorkerProcess } from '../helpers/worker-process';
import { mergeJob, mergePolicy } from './helpers';

const OUTAGE_MS = Number(process.env.FAULTS_DB_OUTAGE_MS ?? 30_000);
const temporal = useTemporalServer();
const pg = usePostgresDatabase();
const { dir, policy } = mergePolicy('airlock-dbdown-', { allow: ['git.create_branch', 'git.commit'] });
const workers: WorkerProcess[] = [];
afterAll(async () => {
  await Promise.all(workers.map((w) => w.kill()));
});

test(`the audit database unreachable for ${OUTAGE_MS / 1000} s: nothing lost or duplicated, the chain verifies`, async () => {
  const target = new URL(pg.url);
  const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
  const viaProxy = new URL(pg.url);
  viaProxy.port = String(proxy.port);
  const { repo, cleanup } = makeRepo();
  const taskQueue = uniqueId('dbdown');
  try {
    workers.push(
      await spawnWorker({
        address: temporal.env.connection.options.address,
        taskQueue,
        identity: 'worker-1',
        env: { AIRLOCK_DATABASE_URL: viaProxy.toString(), AIRLOCK_DATA_DIR: dir, AIRLOCK_POLICY_FILE: policy },
      }),
    );
    const { handle, jobId } = await submitJob(
      temporal.env.client,
      mergeJob('Audited through an outage', repo, 'outage', {
        commit: { message: 'Add', path: 'o.txt', content: 'o\n' },
      }),
      { registry: builtinRegistry(), taskQueue, requester: 'bob', attestationKeys, jobId: uniqueId('job') },
    );
    const request = await pendingRequest(handle);

    // The outage: every connection cut, none accepted; the vote lands meanwhile and the job goes on acting.
    await proxy.down();
    const down = performance.now();
    await vote(temporal.env.client, 'alice', request.id, 'approve');
    await new Promise((r) => setTimeout(r, OUTAGE_MS));
    await proxy.up();
    const result = await handle.result();
    console.log(
      `audit database down ${OUTAGE_MS} ms; the job finished ${(performance.now() - down - OUTAGE_MS).toFixed(0)} ms after it came back`,
    );
    expect(result.status).toBe('succeeded');

    // Verified against the key the worker signs with (generated in its data dir, development opt-in).
    const trail = await AuditStore.open(openDatabase(pg.url), readFileSync(join(dir, 'audit-signing-key.pem'), 'utf8'));
    try {
      // The head is signed as the job ends: wait for it through the retries.
      const deadline = Date.now() + 60_000;
      while (!(await trail.head(jobId))?.signature && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 500));
      const events = await trail.events(jobId);
      expect(await trail.verify(jobId)).toMatchObject({ ok: true });
      expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
      const keys = events.map((e) => e.key);
      expect(new Set(keys).size).toBe(keys.length);
      const count = (type: string) => events.filter((e) => e.type === type).length;
      expect(count('job.submitted')).toBe(1);
      expect(count('approval.vote')).toBe(1);
      expect(count('action.finished')).toBe(3);
      expect(count('job.finished')).toBe(1);
      expect((await trail.head(jobId))?.signature).toBeTruthy();
    } finally {
      await trail.db.close();
    }
  } finally {
    await proxy.up().catch(() => undefined);
    cleanup();
  }
});
