/**
 * Who is signed in to the web console. Two ways, both ending in a person of the people file:
 * - locally, the sign-in form takes the person's own API token (Directory.byToken); the encrypted session cookie
 *   (@fastify/secure-session) then carries the person's id and a prefix of their token's hash, so replacing a token
 *   in the people file signs that person out everywhere;
 * - in production, an authenticating reverse proxy (oauth2-proxy) names the person by email in a header on every
 *   request; the header is believed only when the request comes straight from a configured proxy address.
 * Nothing here writes sessions or CSRF tokens by hand: the cookie is @fastify/secure-session's, the tokens
 * @fastify/csrf-protection's.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyReply, FastifyRequest } from 'fastify';
import ipaddr from 'ipaddr.js';
import type { Person } from '../core/people';
import type { Directory } from '../people';
import { HttpError } from '../api/http';
import type { RouteAuth } from '../api/access';

declare module '@fastify/secure-session' {
  interface SessionData {
    /** The signed-in person's id. */
    person: string;
    /** The first 16 hex digits of the SHA-256 of the token the person signed in with. */
    token: string;
    /** One message for the next page (what a form did). */
    flash: string;
    /** @fastify/csrf-protection's secret. */
    _csrf: string;
  }
}

declare module 'fastify' {
  interface FastifyRequest {
    /** How the console's person was authenticated: the sign-in form's session, or the trusted proxy's header. */
    consoleVia?: 'session' | 'proxy';
  }
}

/** How long a console session lasts without signing in again, in seconds. */
export const SESSION_SECONDS = 8 * 60 * 60;

/** Whether an address is one of the configured proxies (IPs or CIDRs; IPv4-mapped IPv6 counts as IPv4). */
export function trustedProxyMatcher(trusted: string[]): (address: string | undefined) => boolean {
  const ranges = trusted.map((t) => {
    if (t.includes('/')) return ipaddr.parseCIDR(t);
    const a = ipaddr.process(t);
    return [a, a.kind() === 'ipv4' ? 32 : 128] as [ipaddr.IPv4 | ipaddr.IPv6, number];
  });
  return (address) => {
    if (!address || !ipaddr.isValid(address)) return false;
    const a = ipaddr.process(address);
    return ranges.some(([net, bits]) => a.kind() === net.kind() && a.match(net, bits));
  };
}

/**
 * The key that encrypts console sessions: configured (AIRLOCK_CONSOLE_SESSION_KEY), or generated once into the data
 * dir, as the audit and attestation keys are, so a restart keeps people signed in.
 */
export function consoleSessionKey(configured: Buffer | undefined, dataDir: string): Buffer {
  if (configured) return configured;
  const file = join(dataDir, 'console-session.key');
  if (!existsSync(file)) {
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(file, randomBytes(32).toString('hex'), { mode: 0o600 });
  }
  return Buffer.from(readFileSync(file, 'utf8').trim(), 'hex');
}

export interface ConsoleAuthOptions {
  directory: Directory;
  trustedProxies: string[];
  /** Lower-case header name, e.g. x-forwarded-email. */
  proxyHeader: string;
}

/**
 * An onRequest hook (after the session is decoded): sets the request's principal from the proxy's header or the
 * session, then turns away anonymous visitors of pages that need a person — to the sign-in form for a page, 401 for a
 * form post.
 */
export function identify({ directory, trustedProxies, proxyHeader }: ConsoleAuthOptions) {
  const fromProxy = trustedProxyMatcher(trustedProxies);
  return async (req: FastifyRequest, reply: FastifyReply) => {
    let refusal: string | undefined;
    const vouched = req.headers[proxyHeader];
    // The socket's peer, not req.ip: X-Forwarded-For must not make a stranger look like the proxy.
    if (typeof vouched === 'string' && vouched && fromProxy(req.socket.remoteAddress)) {
      const person = directory.byEmail(vouched);
      if (person) {
        req.principal = { kind: 'person', person };
        req.consoleVia = 'proxy';
      } else refusal = `nobody in the people file has the email ${vouched}; ask an administrator to add it`;
    } else {
      const person = sessionPerson(req, directory);
      if (person) {
        req.principal = { kind: 'person', person };
        req.consoleVia = 'session';
      }
    }
    const auth = req.routeOptions.config.auth;
    if (req.principal || !auth || auth.public || auth.session !== 'required') return;
    if (refusal) throw new HttpError(403, 'unknown_person', refusal);
    if (req.method === 'GET' || req.method === 'HEAD') {
      return reply.redirect(`/console/sign-in?next=${encodeURIComponent(req.url)}`, 303);
    }
    throw new HttpError(401, 'signed_out', 'you are not signed in (or your session ended); sign in and try again');
  };
}

/** The session's person, while their token is still the one they signed in with. */
function sessionPerson(req: FastifyRequest, directory: Directory): Person | undefined {
  const id = req.session.get('person');
  const token = req.session.get('token');
  const person = id ? directory.person(id) : undefined;
  return person?.tokenSha256 && token && person.tokenSha256.startsWith(token) ? person : undefined;
}

/** A `next` target after sign-in: a console path of this site, never another origin. */
export function safeNext(next: unknown): string {
  return typeof next === 'string' && /^\/console(\/|$|\?)/.test(next) && !next.startsWith('//') ? next : '/console';
}

/** Console pages for any signed-in person. */
export const personAuth: RouteAuth = { session: 'required', accepts: ['person'] };

/** Console forms for operators only, refused in words for anyone else. */
export function operatorAuth(operatorGroups: string[], what: string): RouteAuth {
  return {
    session: 'required',
    accepts: ['operator'],
    refusal: `only operators (${operatorGroups.join(', ')}) may ${what}`,
  };
}
