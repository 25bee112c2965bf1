/**
 * Where Airlock's own outbound requests (the `http.request` tool, completion callbacks) may go: https unless a host is
 * configured for plain http, hosts and ports on an allow-list, and public addresses unless a network is configured.
 * The rules, pure: the policy judges host facts with them, and activities/http/outbound.ts applies them where the
 * socket connects.
 */
import type { LookupAddress } from 'node:dns';
import ipaddr from 'ipaddr.js';

/** Resolves a host name to every address it has; injectable so tests answer without DNS. */
export type Resolver = (hostname: string) => Promise<LookupAddress[]>;

export interface OutboundPolicy {
  /** Hosts requests may go to: `api.example.com`, `*.example.com` (subdomains), `*` (any); `:8443` or `:*` for ports. */
  allowedHosts: string[];
  /** Hosts (same patterns) plain http may go to; https only otherwise. */
  insecureHosts?: string[];
  /** CIDRs of non-public addresses that may be reached (`127.0.0.0/8` for local development); none by default. */
  allowedNetworks?: string[];
  resolve?: Resolver;
}

/** The request was refused before it left: a permanent answer, not worth a retry. */
export class OutboundRefused extends Error {
  override readonly name = 'OutboundRefused';
}

const DEFAULT_PORT: Record<string, string> = { 'https:': '443', 'http:': '80' };

/** Lower case, without the trailing dot that names the same host (`api.example.com.`). */
export function normaliseHost(hostname: string): string {
  return hostname.toLowerCase().replace(/\.$/, '');
}

/**
 * `api.example.com`, `*.example.com` (subdomains only), `*` (any host); a pattern without a port allows the scheme's
 * default port only, `host:8080` that port, `host:*` any port. IPv6 hosts in brackets: `[::1]:*`.
 */
export function hostAllowed(url: URL, patterns: string[]): boolean {
  const host = normaliseHost(url.hostname);
  const port = url.port || DEFAULT_PORT[url.protocol];
  return patterns.some((pattern) => {
    const [, p, portPattern] = /^(.*?)(?::(\d+|\*))?$/.exec(pattern.trim().toLowerCase())!;
    if (portPattern ? portPattern !== '*' && portPattern !== port : port !== DEFAULT_PORT[url.protocol]) return false;
    if (p === '*') return true;
    if (p.startsWith('*.')) return host.endsWith(p.slice(1));
    return host === normaliseHost(p);
  });
}

/**
 * Only globally routable unicast addresses, unless a configured network holds the address. Everything else —
 * loopback, RFC 1918, CGNAT, link-local (cloud metadata at 169.254.169.254), ULA, multicast, unspecified, reserved,
 * and IPv6 forms that embed an IPv4 address (mapped, NAT64, 6to4) — is refused by default.
 */
export function addressAllowed(address: string, allowedNetworks: string[] = []): boolean {
  let addr: ipaddr.IPv4 | ipaddr.IPv6;
  try {
    addr = ipaddr.parse(address.replace(/^\[|\]$/g, ''));
  } catch {
    return false;
  }
  // `::ffff:127.0.0.1` reaches 127.0.0.1: judge (and match networks against) the IPv4 address it carries.
  if (addr.kind() === 'ipv6' && (addr as ipaddr.IPv6).isIPv4MappedAddress())
    addr = (addr as ipaddr.IPv6).toIPv4Address();
  const a = addr;
  const inNetwork = allowedNetworks.some((cidr) => {
    const [net, bits] = ipaddr.parseCIDR(cidr);
    return net.kind() === a.kind() && a.match([net, bits] as never);
  });
  if (inNetwork) return true;
  if (a.range() !== 'unicast') return false;
  // The deprecated IPv4-compatible form (`::7f00:1`), which ipaddr.js calls unicast.
  return !(a.kind() === 'ipv6' && (a as ipaddr.IPv6).parts.slice(0, 6).every((p) => p === 0));
}

/** Checks what can be checked before connecting: scheme, credentials, host and port, and a literal address. */
export function checkUrl(url: URL, policy: OutboundPolicy): void {
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw new OutboundRefused(`${url.protocol} URLs are not allowed`);
  // Credentials in a URL end up in logs, history and the audit trail; secrets go in headers ({"$secret": …}).
  if (url.username || url.password) throw new OutboundRefused('URLs with credentials (user:pass@host) are not allowed');
  if (!hostAllowed(url, policy.allowedHosts)) throw new OutboundRefused(`host ${url.host} is not in the allowed hosts`);
  if (url.protocol === 'http:' && !hostAllowed(url, policy.insecureHosts ?? []))
    throw new OutboundRefused(`plain http to ${url.host} is not allowed (https only)`);
  // A literal address is connected to without a lookup, so the lookup hook never sees it: check it here.
  const host = url.hostname.replace(/^\[|\]$/g, '');
  if (ipaddr.isValid(host) && !addressAllowed(host, policy.allowedNetworks))
    throw new OutboundRefused(`address ${host} is not allowed (not public)`);
}
