/**
 * The digest an approval is bound to: SHA-256 of the resolved input as RFC 8785 canonical JSON (JCS), so the same
 * arguments always give the same digest whatever the key order.
 */
import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';

export function inputDigest(input: unknown): string {
  return `sha256:${createHash('sha256')
    .update(canonicalize(input) ?? 'null')
    .digest('hex')}`;
}
