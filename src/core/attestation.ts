/**
 * Vote attestations: a channel that authenticated a human (API token, Slack's signed request, later GitHub's signed
 * webhook or a console session) signs what that human decided, with the channel's Ed25519 key. The workflow's
 * `decide` validator and `airlock audit verify` check the signature against the channel public keys the job was
 * started with, so who approved is proven by the channel, not claimed by whoever reaches the workflow.
 *
 * Pure and deterministic (no node:crypto): bundled into workflow code. Ed25519 verification is @noble/curves,
 * base64 is @scure/base, the signed bytes are the canonical JSON (RFC 8785, `canonicalize`) of the payload. The
 * comment is attested by its digest and the signature is hex: the audit trail redacts credential-like text, which
 * must not make a stored attestation unverifiable.
 */
import { ed25519 } from '@noble/curves/ed25519';
import { sha256 } from '@noble/hashes/sha2';
import { bytesToHex, hexToBytes, utf8ToBytes } from '@noble/hashes/utils';
import { base64 } from '@scure/base';
import canonicalize from 'canonicalize';

// Verification runs in workflow code, where each workflow (every job, and each one replayed by a new worker) gets its
// own copy of the modules: noble's default base-point table (window 8, 4096 points) was built again for every job's
// first vote, ~40 ms of the single workflow thread (5 s for 100 jobs recovering on a new worker). A window of 4 (512
// points) builds in a few milliseconds and verifies as fast.
ed25519.Point.BASE.precompute(4);

/** A channel's public key, as the submitter puts it into the job's input (JobInput.attestationKeys). */
export interface AttestationKey {
  /** `<channel>:<fingerprint>`; names the key in an attestation. */
  keyId: string;
  /** The only channel whose votes this key may attest. */
  channel: string;
  /** Ed25519 public key, SPKI PEM. */
  publicKeyPem: string;
}

/** What a channel attests: who decided what on which request, as the channel saw it. */
export interface AttestedVote {
  /** The person of the directory the channel resolved the human to. */
  person: string;
  /** The person's groups in the directory when the channel signed. */
  groups: string[];
  /** The channel that authenticated the human: `api`, `slack`, … */
  channel: string;
  /** The identity the channel saw: `token:<sha256 prefix>` (API), `slack:U…` (Slack), `github:<login>`, … */
  channelIdentity: string;
  /** The approval request `<jobId>:<stepId>`. */
  requestId: string;
  /** The input digest the human was shown. */
  digest: string;
  /** The policy version the request was asked under. */
  policyHash: string;
  decision: 'approve' | 'reject';
  /** commentDigest(comment) of the vote's comment, when it has one. */
  commentDigest?: string;
  /** When the channel signed (ISO 8601). */
  at: string;
  /** Random, so no two attestations are the same bytes. */
  nonce: string;
}

/** A signed AttestedVote. */
export interface Attestation {
  payload: AttestedVote;
  keyId: string;
  /** Ed25519 signature (hex) over attestationBytes(payload). */
  signature: string;
}

/** The signer a channel is handed by the composition root (src/attestation.ts builds it from config). */
export interface Attestor {
  /** Signs a vote the channel authenticated; throws when this process holds no key for `payload.channel`. */
  attest(payload: AttestedVote): Attestation;
  /** The public keys of the channels this attestor signs for. */
  publicKeys(): AttestationKey[];
}

/** The bytes an attestation signs: the canonical JSON of its payload, UTF-8. */
export function attestationBytes(payload: AttestedVote): Uint8Array {
  return utf8ToBytes(canonicalize(payload)!);
}

/** `sha256:<hex>` of a comment's UTF-8 bytes; undefined for no comment. */
export function commentDigest(comment: string | undefined): string | undefined {
  return comment === undefined ? undefined : `sha256:${bytesToHex(sha256(utf8ToBytes(comment)))}`;
}

/** DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410): the raw 32-byte key follows. */
const ED25519_SPKI_PREFIX = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];

/** The raw 32-byte key of an Ed25519 SPKI PEM; throws on anything else. */
export function rawPublicKey(pem: string): Uint8Array {
  const b64 = pem
    .replace(/-----(BEGIN|END) PUBLIC KEY-----/g, '')
    .replace(/\s+/g, '')
    .trim();
  const der = base64.decode(b64);
  if (der.length !== 44 || ED25519_SPKI_PREFIX.some((b, i) => der[i] !== b))
    throw new Error('not an Ed25519 public key (SPKI PEM)');
  return der.slice(12);
}

export type AttestationCheck = { ok: true; payload: AttestedVote } | { ok: false; reason: string };

/** Checks the signature and that the key is known and belongs to the attested channel. Nothing about the request. */
export function verifyAttestation(attestation: unknown, keys: readonly AttestationKey[]): AttestationCheck {
  const a = attestation as Partial<Attestation> | undefined;
  if (!a || typeof a !== 'object' || !a.payload || typeof a.keyId !== 'string' || typeof a.signature !== 'string')
    return { ok: false, reason: 'the vote carries no attestation by a channel' };
  const key = keys.find((k) => k.keyId === a.keyId);
  if (!key) return { ok: false, reason: `attestation key ${a.keyId} is not one this job trusts` };
  if (key.channel !== a.payload.channel)
    return { ok: false, reason: `key ${a.keyId} is the ${key.channel} channel's, not the ${a.payload.channel} one's` };
  let valid = false;
  try {
    valid = ed25519.verify(hexToBytes(a.signature), attestationBytes(a.payload), rawPublicKey(key.publicKeyPem));
  } catch {
    valid = false;
  }
  if (!valid) return { ok: false, reason: `the attestation's signature is not valid for key ${a.keyId}` };
  return { ok: true, payload: a.payload };
}
