/**
 * Every Airlock process opens the audit store at start, and in production they start together (docker-compose.yml
 * starts the API and both worker roles at once) against a database that may still be empty: the migrations must not
 * race each other.
 */
import { openDatabase } from '../../src/audit/db';
import { AuditEventType } from '../../src/core/audit';
import { AuditStore } from '../../src/audit/store';
import { usePostgresDatabase } from '../helpers/postgres';

const pg = usePostgresDatabase();

test('processes opening a fresh audit database at the same time all start, and the trail works', async () => {
  const dbs = Array.from({ length: 6 }, () => openDatabase(pg.url));
  try {
    const opened = await Promise.allSettled(dbs.map((db) => AuditStore.open(db)));
    expect(
      opened.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason)),
    ).toEqual([]);
    const store = (opened[0] as PromiseFulfilledResult<AuditStore>).value;
    const event = await store.append({ jobId: 'job-1', key: 'submitted', type: AuditEventType.JobSubmitted, data: {} });
    expect(event.seq).toBe(1);
  } finally {
    await Promise.all(dbs.map((db) => db.close()));
  }
});
