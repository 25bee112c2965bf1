/**
 * The channels' signing side of vote attestations (src/core/attestation.ts): an Ed25519 private key per process
 * (AIRLOCK_ATTESTATION_KEY, or for `airlock dev` one generated into the data dir), signing for the channels this
 * process serves (the HTTP API, Slack, the web console). The private key never leaves this object: not into history, not into logs.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import {
  attestationBytes,
  rawPublicKey,
  type Attestation,
  type AttestationKey,
  type AttestedVote,
  type Attestor,
} from './core/attestation';
import { ConfigError, type Config } from './config';

/** The channels a process of ours attests for. */
export const ATTESTING_CHANNELS = ['api', 'slack', 'console', 'github'] as const;

/** A short fingerprint of a public key: the first 16 hex digits of the SHA-256 of its SPKI DER. */
export function keyFingerprint(publicKey: KeyObject): string {
  return createHash('sha256')
    .update(publicKey.export({ type: 'spki', format: 'der' }))
    .digest('hex')
    .slice(0, 16);
}

/** Signs attestations for `channels` with one Ed25519 private key (PKCS#8 PEM). */
export function createAttestor(privateKeyPem: string, channels: readonly string[] = ATTESTING_CHANNELS): Attestor {
  const privateKey = createPrivateKey(privateKeyPem);
  if (privateKey.asymmetricKeyType !== 'ed25519') throw new Error('the attestation key must be an Ed25519 key');
  const publicKey = createPublicKey(privateKey);
  const publicKeyPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const fingerprint = keyFingerprint(publicKey);
  const keys: AttestationKey[] = channels.map((channel) => ({
    keyId: `${channel}:${fingerprint}`,
    channel,
    publicKeyPem,
  }));
  return {
    attest(payload: AttestedVote): Attestation {
      const key = keys.find((k) => k.channel === payload.channel);
      if (!key) throw new Error(`this process holds no attestation key for channel ${payload.channel}`);
      const signature = sign(null, attestationBytes(payload), privateKey).toString('hex');
      return { payload, keyId: key.keyId, signature };
    },
    publicKeys: () => keys.map((k) => ({ ...k })),
  };
}

/** A fresh Ed25519 private key, PKCS#8 PEM (tests, `airlock dev`). */
export function generateAttestationKey(): string {
  return generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

/**
 * The configured attestation key, or (no key configured) one generated once and kept in the data dir, as the audit
 * signing key is: the embedded stack's API and the CLI's `jobs submit` then agree on it.
 */
export function attestationKeyPem(config: Config): string {
  if (config.attestation.signingKey) return config.attestation.signingKey;
  // Every API instance must sign votes with a key the jobs trust: a key generated per host would make votes arriving
  // at another instance fail verification, as per-host audit keys did.
  if (!config.development)
    throw new ConfigError(
      'invalid configuration:\n  AIRLOCK_ATTESTATION_KEY: required to attest votes (an Ed25519 PKCS#8 PEM key shared by ' +
        'the API instances; make one with `openssl genpkey -algorithm ed25519`). Only `airlock dev` (or ' +
        'AIRLOCK_ALLOW_DEV_CREDENTIALS=1, for tests) generates one per data dir.',
    );
  const file = join(config.dataDir, 'attestation-key.pem');
  if (!existsSync(file)) {
    mkdirSync(config.dataDir, { recursive: true });
    writeFileSync(file, generateAttestationKey(), { mode: 0o600 });
  }
  return readFileSync(file, 'utf8');
}

const keyringSchema = z.array(
  z.strictObject({
    keyId: z.string().min(1),
    channel: z.string().min(1),
    publicKeyPem: z.string().refine((pem) => {
      try {
        rawPublicKey(pem);
        return true;
      } catch {
        return false;
      }
    }, 'must be an Ed25519 public key (SPKI PEM)'),
  }),
);

/**
 * The channel keys a submitter outside the API process (`airlock jobs submit`) puts into a job: those of the
 * configured attestation key or of the embedded stack's generated one (derived, never generated here), and the
 * keyring's. Empty when there is neither: no vote on such a job can count.
 */
export function submitterAttestationKeys(config: Config): AttestationKey[] {
  const file = join(config.dataDir, 'attestation-key.pem');
  const pem = config.attestation.signingKey ?? (existsSync(file) ? readFileSync(file, 'utf8') : undefined);
  const own = pem ? createAttestor(pem).publicKeys() : [];
  const keys = [...own, ...(config.attestation.keyring ? readKeyring(config.attestation.keyring) : [])];
  return keys.filter((k, i) => keys.findIndex((o) => o.keyId === k.keyId) === i);
}

/** A keyring file: a JSON array of {keyId, channel, publicKeyPem}. Throws naming the bad entry. */
export function readKeyring(file: string): AttestationKey[] {
  const parsed = keyringSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
  if (!parsed.success)
    throw new Error(
      `${file}: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`,
    );
  return parsed.data;
}

/**
 * The channel keys a submitter puts into a job's input: this process's own (from its attestation key) and those of
 * the keyring file (AIRLOCK_ATTESTATION_KEYRING: channels running in other processes), without duplicates.
 */
export function trustedAttestationKeys(config: Config, attestor: Attestor): AttestationKey[] {
  const keys = [
    ...attestor.publicKeys(),
    ...(config.attestation.keyring ? readKeyring(config.attestation.keyring) : []),
  ];
  return keys.filter((k, i) => keys.findIndex((o) => o.keyId === k.keyId) === i);
}
