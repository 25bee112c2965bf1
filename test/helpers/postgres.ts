/**
 * A throw-away PostgreSQL database per test file on the local server that scripts/ensure-postgres.sh sets up
 * (127.0.0.1:5432, user and password postgres, database test; AIRLOCK_TEST_PG_URL overrides the admin URL).
 */
import { randomUUID } from 'node:crypto';
import { Client } from 'pg';
import { DEFAULT_TEST_PG_URL } from './postgres-url';

export const ADMIN_URL = process.env.AIRLOCK_TEST_PG_URL ?? DEFAULT_TEST_PG_URL;

export function usePostgresDatabase() {
  const db = { url: '' };
  const name = `airlock_test_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
  const admin = async (sql: string) => {
    const c = new Client({ connectionString: ADMIN_URL });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };
  beforeAll(async () => {
    await admin(`CREATE DATABASE ${name}`);
    const url = new URL(ADMIN_URL);
    url.pathname = `/${name}`;
    db.url = url.toString();
  });
  afterAll(async () => {
    await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  });
  return db;
}
