/**
 * Jest global setup: a plain `npm test` finds the tests' PostgreSQL. When the admin URL does not answer and no
 * AIRLOCK_TEST_PG_URL was given, run scripts/ensure-postgres.sh (installs, starts and sets up the local server;
 * idempotent), then try again; fail with a message that says what to do otherwise.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { Client } from 'pg';
import { DEFAULT_TEST_PG_URL } from './helpers/postgres-url';

async function reachable(url: string): Promise<string | undefined> {
  const c = new Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await c.connect();
    await c.query('SELECT 1');
    return undefined;
  } catch (err) {
    return (err as Error).message;
  } finally {
    await c.end().catch(() => undefined);
  }
}

export default async function globalSetup(): Promise<void> {
  const override = process.env.AIRLOCK_TEST_PG_URL;
  const url = override ?? DEFAULT_TEST_PG_URL;
  if ((await reachable(url)) === undefined) return;
  if (override) throw new Error(`AIRLOCK_TEST_PG_URL does not answer: ${await reachable(url)}`);
  execFileSync('bash', [path.join(__dirname, '..', 'scripts', 'ensure-postgres.sh')], { stdio: 'inherit' });
  const error = await reachable(url);
  if (error !== undefined) {
    throw new Error(`the tests' PostgreSQL (${url.replace(/:[^:@/]*@/, ':***@')}) does not answer: ${error}`);
  }
}
