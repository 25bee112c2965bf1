/**
 * The replay store every API instance shares: a delivery id is accepted once per window, by whichever instance sees
 * it first, across restarts (a new store on the same database), and again only after its window.
 */
import { SeenDeliveries } from '../../approvals/seen-deliveries';
import { openDatabase } from '../../src/audit/db';
import type { Database } from '../../src/core/db';
import { usePostgresDatabase } from '../helpers/postgres';

const dbs: Database[] = [];
// Declared before the database: afterAll hooks run in order, so the pools close before it is dropped.
afterAll(async () => {
  for (const db of dbs) await db.close();
});
const pg = usePostgresDatabase();
const open = async () => {
  const db = openDatabase(pg.url);
  dbs.push(db);
  return SeenDeliveries.open(db);
};
const now = 1_800_000_000;

test('first versus repeat is decided once across instances, survives a restart, and expires after the window', async () => {
  const a = await open();
  const b = await open();
  expect(await a.firstTime('slack', 'v0=aa', now, 600)).toBe(true);
  expect(await b.firstTime('slack', 'v0=aa', now + 1, 600)).toBe(false);
  expect(await a.firstTime('slack', 'v0=aa', now + 2, 600)).toBe(false);
  // Sources are separate: a GitHub delivery id equal to a Slack signature is its own delivery.
  expect(await b.firstTime('github', 'v0=aa', now + 2, 600)).toBe(true);
  // A "restart": a new store on the same database still remembers, within the window.
  const restarted = await open();
  expect(await restarted.firstTime('slack', 'v0=aa', now + 599, 600)).toBe(false);
  // After the window the id is new again (the sender's own timestamp check refuses such a request by then).
  expect(await restarted.firstTime('slack', 'v0=aa', now + 601, 600)).toBe(true);
  expect(await a.firstTime('slack', 'v0=aa', now + 602, 600)).toBe(false);
});

test('many instances racing on one delivery accept it exactly once', async () => {
  const stores = await Promise.all(Array.from({ length: 4 }, () => open()));
  const answers = await Promise.all(
    Array.from({ length: 40 }, (_, i) => stores[i % stores.length].firstTime('slack', 'v0=race', now, 600)),
  );
  expect(answers.filter(Boolean)).toHaveLength(1);
});
