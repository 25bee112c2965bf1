/**
 * The audit store's database: PostgreSQL (pg) in production and tests, PGlite (PostgreSQL compiled to WASM, the same
 * SQL) embedded for `airlock dev`. Both behind one tiny interface, so the store has one implementation.
 */
import { mkdirSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { Pool } from 'pg';
import type { Database } from '../core/db';
import { lockStore } from './lock';

export function postgres(url: string): Database {
  const pool = new Pool({ connectionString: url, max: 10 });
  // An idle connection dropped by the server (restart, failover) is replaced on next use; it must not crash us.
  pool.on('error', (err) => console.error(`audit database: idle connection lost: ${err.message}`));
  return {
    kind: 'postgres',
    query: async (text, params, name) =>
      (name ? pool.query({ name, text, values: params as unknown[] }) : pool.query(text, params as unknown[])) as never,
    exec: async (sql) => void (await pool.query(sql)),
    close: () => pool.end(),
  };
}

/**
 * PGlite in a directory (persistent) or in memory (undefined). A directory is owned by this process while open
 * (lock.ts): a second opener gets StoreInUseError.
 */
export function pglite(dir?: string): Database {
  const release = dir ? lockStore(dir) : () => undefined;
  if (dir) mkdirSync(dir, { recursive: true });
  const db = new PGlite(dir);
  return {
    kind: 'pglite',
    query: async (text, params) => db.query(text, params as unknown[]) as never,
    exec: async (sql) => void (await db.exec(sql)),
    close: async () => {
      try {
        await db.close();
      } finally {
        release();
      }
    },
  };
}

/** `postgres://…` → PostgreSQL; anything else is a PGlite directory (`memory:` for in-memory). */
export function openDatabase(url: string): Database {
  if (/^postgres(ql)?:\/\//.test(url)) return postgres(url);
  return pglite(url === 'memory:' ? undefined : url);
}
