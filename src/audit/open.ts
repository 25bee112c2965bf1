/**
 * Opening the audit store from config: PostgreSQL or embedded PGlite, the Ed25519 key that signs chain heads, and the
 * keyring heads are verified with (the signing key's public half plus AIRLOCK_AUDIT_KEYRING, the keys of before a
 * rotation).
 */
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, type Config } from '../config';
import { openDatabase } from './db';
import { Keyring } from './keyring';
import { AuditStore } from './store';

const devKeyFile = (config: Config) => join(config.dataDir, 'audit-signing-key.pem');

/**
 * The key that signs heads. A signer (serve, worker) outside development must have AIRLOCK_AUDIT_SIGNING_KEY: a key
 * generated per host would sign half the trails with a key the other hosts do not know. In development one is
 * generated once per data dir. A reader (the CLI's export and votes) uses the configured key, else a data dir's
 * development key if there is one.
 */
function signingKey(config: Config, role: 'signer' | 'reader'): string | undefined {
  if (config.audit.signingKey) return config.audit.signingKey;
  const file = devKeyFile(config);
  if (role === 'reader') return existsSync(file) ? readFileSync(file, 'utf8') : undefined;
  if (!config.development)
    throw new ConfigError(
      'invalid configuration:\n  AIRLOCK_AUDIT_SIGNING_KEY: required to sign audit trails (the same Ed25519 PKCS#8 PEM ' +
        'key on every host; make one with `openssl genpkey -algorithm ed25519`). Only `airlock dev` (or ' +
        'AIRLOCK_ALLOW_DEV_CREDENTIALS=1, for tests) generates one per data dir.',
    );
  if (!existsSync(file)) {
    mkdirSync(config.dataDir, { recursive: true });
    const { privateKey } = generateKeyPairSync('ed25519');
    writeFileSync(file, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  }
  return readFileSync(file, 'utf8');
}

/** Throws (naming AIRLOCK_AUDIT_SIGNING_KEY or AIRLOCK_AUDIT_KEYRING) when a signer could not start. */
export function checkSignerConfig(config: Config): void {
  signingKey(config, 'signer');
  keyring(config);
}

/** The configured keyring (AIRLOCK_AUDIT_KEYRING), read now so a bad path stops the start naming the variable. */
function keyring(config: Config): Keyring | undefined {
  if (!config.audit.keyring) return undefined;
  try {
    return Keyring.fromPath(config.audit.keyring);
  } catch (err) {
    throw new ConfigError(`invalid configuration:\n  AIRLOCK_AUDIT_KEYRING: ${(err as Error).message}`);
  }
}

/** Opens the audit store: as a `signer` (the processes that sign heads when jobs end) or a `reader` (CLI). */
export function openAudit(config: Config, role: 'signer' | 'reader' = 'signer'): Promise<AuditStore> {
  const key = signingKey(config, role);
  return AuditStore.open(openDatabase(config.audit.databaseUrl), key, keyring(config));
}
