/**
 * The public keys audit heads are verified with. Each signed head names its key (`ed25519:<16 hex>`, from the SHA-256
 * of the key's SPKI), so keys can rotate: a trail signed by an old key verifies with a keyring that still holds it,
 * and a head whose key is not in the keyring fails naming that key.
 */
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** `ed25519:<first 16 hex of sha256(spki der)>`: the id a signed head names its key by. */
export function keyId(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key;
  const spki = pub.export({ type: 'spki', format: 'der' });
  return `${pub.asymmetricKeyType}:${createHash('sha256').update(spki).digest('hex').slice(0, 16)}`;
}

const PEM_BLOCK = /-----BEGIN PUBLIC KEY-----[\s\S]+?-----END PUBLIC KEY-----/g;

export class Keyring {
  private readonly keys = new Map<string, KeyObject>();

  constructor(keys: Iterable<KeyObject> = []) {
    for (const k of keys) this.add(k);
  }

  /** Every PUBLIC KEY block of a PEM text (one file may hold several). */
  static fromPem(text: string, source = 'the PEM text'): Keyring {
    const blocks = text.match(PEM_BLOCK) ?? [];
    if (!blocks.length) throw new Error(`${source} holds no PEM public key (-----BEGIN PUBLIC KEY-----)`);
    return new Keyring(blocks.map((b) => createPublicKey(b)));
  }

  /** A PEM file of one or more public keys, or a directory of them (every `*.pem`). */
  static fromPath(path: string): Keyring {
    const files = statSync(path).isDirectory()
      ? readdirSync(path)
          .filter((f) => f.endsWith('.pem'))
          .map((f) => join(path, f))
      : [path];
    const ring = new Keyring();
    for (const f of files) ring.merge(Keyring.fromPem(readFileSync(f, 'utf8'), f));
    if (!ring.size) throw new Error(`${path} holds no public keys (*.pem)`);
    return ring;
  }

  add(key: KeyObject): string {
    const pub = key.type === 'private' ? createPublicKey(key) : key;
    const id = keyId(pub);
    this.keys.set(id, pub);
    return id;
  }

  merge(other: Keyring): this {
    for (const k of other.keys.values()) this.add(k);
    return this;
  }

  get(id: string): KeyObject | undefined {
    return this.keys.get(id);
  }

  ids(): string[] {
    return [...this.keys.keys()];
  }

  all(): KeyObject[] {
    return [...this.keys.values()];
  }

  get size(): number {
    return this.keys.size;
  }

  /** The key's SPKI PEM, for an export's reader. */
  pem(id: string): string | undefined {
    return this.keys.get(id)?.export({ type: 'spki', format: 'pem' }).toString();
  }
}
