import { ApplicationFailure } from '@temporalio/common';
import { z } from 'zod';
import { FailureType } from '../../src/core/failures';
import { OutboundRefused } from '../../src/core/hosts';
import { outboundUrl } from '../../src/core/job-schema';
import { outboundFetch, refusalOf } from './outbound';
import { defineTool } from '../tool';

const HEARTBEAT_EVERY_MS = 1_000;

/** A header value is a literal or a reference to a named secret, so the secret itself never enters history. */
const headerValue = z.union([z.string(), z.strictObject({ $secret: z.string().regex(/^[A-Z][A-Z0-9_]*$/) })]);

/** Headers the tool owns or that would redirect the request past the host check (`Host`, framing). */
const RESERVED_HEADERS = new Set(['idempotency-key', 'host', 'content-length', 'transfer-encoding', 'connection']);
const MAX_REDIRECTS = 5;

export const httpRequest = defineTool({
  name: 'http.request',
  description: 'Send an HTTP request to an allowed host, with the step idempotency key as the Idempotency-Key header.',
  risk: 'medium',
  input: z
    .strictObject({
      method: z.enum(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']).default('GET'),
      url: outboundUrl,
      headers: z
        .record(z.string(), headerValue)
        .default({})
        .refine((h) => Object.keys(h).every((name) => !RESERVED_HEADERS.has(name.toLowerCase())), {
          message: `these headers are set by the tool: ${[...RESERVED_HEADERS].join(', ')}`,
        }),
      json: z.unknown().optional(),
      body: z.string().optional(),
      timeoutSec: z.number().int().positive().max(600).default(30),
      maxResponseBytes: z
        .number()
        .int()
        .positive()
        .max(4 * 1024 * 1024)
        .default(256 * 1024),
    })
    .refine((i) => i.json === undefined || i.body === undefined, {
      message: 'give json or body, not both',
      path: ['body'],
    }),
  output: z.object({
    status: z.number(),
    contentType: z.string().nullable(),
    body: z.unknown(),
    truncated: z.boolean(),
  }),
  cost: () => 1,
  idempotency: 'The key <jobId>/<stepId> is sent as the Idempotency-Key header; the receiving system deduplicates.',
  timeouts: { startToCloseMs: 11 * 60_000, heartbeatMs: 30_000 },
  async execute(input, ctx) {
    const url = new URL(input.url);
    const refuse = (err: OutboundRefused) =>
      ApplicationFailure.create({ type: FailureType.HostNotAllowed, nonRetryable: true, message: err.message });
    // Headers, not a plain object: names are case-insensitive, so `IDEMPOTENCY-KEY` cannot sit beside ours.
    const headers = new Headers();
    const secretHeaders: string[] = [];
    for (const [name, value] of Object.entries(input.headers)) {
      if (RESERVED_HEADERS.has(name.toLowerCase())) continue; // refused by the schema; never sent
      if (typeof value === 'string') headers.set(name, value);
      else {
        const secret = ctx.deps.secret(value.$secret);
        if (secret === undefined) {
          throw ApplicationFailure.create({
            type: FailureType.SecretMissing,
            nonRetryable: true,
            message: `secret ${value.$secret} is not configured on the worker`,
          });
        }
        headers.set(name, secret);
        secretHeaders.push(name);
      }
    }
    let body = input.body;
    if (input.json !== undefined) {
      body = JSON.stringify(input.json);
      if (!headers.has('content-type')) headers.set('content-type', 'application/json');
    }
    headers.set('idempotency-key', ctx.idempotencyKey);

    const signal = AbortSignal.any([ctx.signal, AbortSignal.timeout(input.timeoutSec * 1000)]);
    // Heartbeats tell Temporal the worker is alive during a slow call, so a dead worker is noticed quickly.
    const beat = setInterval(() => ctx.heartbeat(), HEARTBEAT_EVERY_MS);
    let res: Awaited<ReturnType<typeof outboundFetch>>['response'];
    let close = () => undefined as void;
    try {
      // Redirects are followed by hand, each hop checked like the first; secrets do not follow to another origin.
      ({ response: res, close } = await outboundFetch(
        url,
        {
          method: input.method,
          headers: Object.fromEntries(headers.entries()),
          body,
          signal,
          maxRedirects: MAX_REDIRECTS,
          sensitiveHeaders: secretHeaders,
        },
        ctx.deps.http,
      ));
    } catch (err) {
      clearInterval(beat);
      const refused = refusalOf(err);
      if (refused) throw refuse(refused);
      if (ctx.signal.aborted) throw err;
      throw ApplicationFailure.create({
        type: FailureType.HttpServerError,
        message: `${input.method} ${url.origin}${url.pathname} failed: ${(err as Error).message}`,
      });
    }
    let raw: Buffer;
    try {
      raw = Buffer.from(await res.arrayBuffer());
    } finally {
      clearInterval(beat);
      close();
    }
    const truncated = raw.length > input.maxResponseBytes;
    const text = raw.subarray(0, input.maxResponseBytes).toString('utf8');
    const contentType = res.headers.get('content-type');
    let parsed: unknown = text;
    if (!truncated && contentType?.includes('json')) {
      try {
        parsed = JSON.parse(text);
      } catch {
        // keep the text
      }
    }
    const output = { status: res.status, contentType, body: parsed, truncated };
    if (res.status >= 500 || res.status === 429 || res.status === 408) {
      throw ApplicationFailure.create({
        type: FailureType.HttpServerError,
        message: `${input.method} ${url.origin}${url.pathname} answered ${res.status}`,
        details: [output],
      });
    }
    if (res.status >= 400) {
      throw ApplicationFailure.create({
        type: FailureType.HttpClientError,
        nonRetryable: true,
        message: `${input.method} ${url.origin}${url.pathname} answered ${res.status}`,
        details: [output],
      });
    }
    return output;
  },
});
