/**
 * Sending a request where the rules of src/core/hosts.ts allow. The address is checked where the socket connects
 * (undici's `connect.lookup`), on the very answer it connects to, so a name that answers differently the second time
 * (DNS rebinding) cannot slip past a check made earlier. Redirects are followed by hand, each hop checked again.
 */
import { lookup as dnsLookup } from 'node:dns';
import type { LookupFunction } from 'node:net';
import { Agent, fetch as undiciFetch, Headers, type Response } from 'undici';
import { addressAllowed, checkUrl, OutboundRefused, type OutboundPolicy, type Resolver } from '../../src/core/hosts';

const systemResolver: Resolver = (hostname) =>
  new Promise((resolve, reject) =>
    dnsLookup(hostname, { all: true, verbatim: true }, (err, addresses) => (err ? reject(err) : resolve(addresses))),
  );

/**
 * A `net.connect` lookup that resolves once and answers only with addresses it checked: the socket connects to exactly
 * what was judged. Any refused answer refuses the host (a name that mixes public and private answers is suspect).
 */
export function guardedLookup(policy: OutboundPolicy): LookupFunction {
  const resolve = policy.resolve ?? systemResolver;
  return (hostname, options, callback) => {
    resolve(hostname)
      .then((answers) => {
        const family = options.family === 'IPv4' ? 4 : options.family === 'IPv6' ? 6 : options.family;
        const addresses = answers.filter((a) => !family || a.family === family);
        const refused = addresses.find((a) => !addressAllowed(a.address, policy.allowedNetworks));
        if (refused) throw new OutboundRefused(`${hostname} resolves to ${refused.address}, which is not allowed`);
        if (!addresses.length) throw new OutboundRefused(`${hostname} has no address`);
        if (options.all) callback(null, addresses);
        else callback(null, addresses[0].address, addresses[0].family);
      })
      .catch((err: NodeJS.ErrnoException) => callback(err, ''));
  };
}

/** The refusal behind a failed fetch (undici wraps connect errors in `TypeError: fetch failed`), if it was one. */
export function refusalOf(err: unknown): OutboundRefused | undefined {
  for (let e = err; e instanceof Error; e = e.cause) if (e instanceof OutboundRefused) return e;
  return undefined;
}

export interface OutboundRequest {
  method: string;
  headers: Record<string, string>;
  body?: string;
  signal?: AbortSignal;
  /** Redirects to follow, each hop checked like the first; 0 returns the 3xx as it is. */
  maxRedirects?: number;
  /** Headers (besides authorization and cookies) not to carry to another origin, e.g. ones holding secrets. */
  sensitiveHeaders?: string[];
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const CREDENTIAL_HEADERS = ['authorization', 'proxy-authorization', 'cookie'];

/**
 * Sends a request where the policy allows, following redirects by hand. The agent lives for this request only, so no
 * pooled connection outlives the policy it was checked against; `close` it once the body is read.
 */
export async function outboundFetch(
  url: URL,
  req: OutboundRequest,
  policy: OutboundPolicy,
): Promise<{ response: Response; url: URL; close: () => void }> {
  const agent = new Agent({ connect: { lookup: guardedLookup(policy) } });
  const close = () => void agent.close().catch(() => undefined);
  let { method, body } = req;
  const headers = new Headers(req.headers);
  try {
    for (let hop = 0; ; hop++) {
      checkUrl(url, policy);
      const response = await undiciFetch(url, {
        method,
        headers,
        body,
        signal: req.signal,
        redirect: 'manual',
        dispatcher: agent,
      });
      const location = response.headers.get('location');
      if (!REDIRECTS.has(response.status) || !location || hop >= (req.maxRedirects ?? 0))
        return { response, url, close };
      await response.body?.cancel();
      const next = new URL(location, url);
      if (next.origin !== url.origin)
        for (const name of [...CREDENTIAL_HEADERS, ...(req.sensitiveHeaders ?? [])]) headers.delete(name);
      // As browsers do: 303 (and 301/302 after a POST) continue as a GET without the body.
      if (
        (response.status === 303 && method !== 'HEAD') ||
        ([301, 302].includes(response.status) && method === 'POST')
      ) {
        method = 'GET';
        body = undefined;
        headers.delete('content-type');
      }
      url = next;
    }
  } catch (err) {
    close();
    throw refusalOf(err) ?? err;
  }
}
