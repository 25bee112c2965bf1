/** Opening the audit store from config: PostgreSQL or embedded PGlite, and the Ed25519 key that signs chain heads. */
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config';
import { openDatabase } from './db';
import { AuditStore } from './store';

/** The configured key, or (embedded stack only) one generated once and kept in the data dir. */
function signingKey(config: Config): string {
  if (config.audit.signingKey) return config.audit.signingKey;
  const file = join(config.dataDir, 'audit-signing-key.pem');
  if (!existsSync(file)) {
    mkdirSync(config.dataDir, { recursive: true });
    const { privateKey } = generateKeyPairSync('ed25519');
    writeFileSync(file, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  }
  return readFileSync(file, 'utf8');
}

export function openAudit(config: Config): Promise<AuditStore> {
  return AuditStore.open(openDatabase(config.audit.databaseUrl), signingKey(config));
}
