import { ApplicationFailure } from '@temporalio/common';
import { z } from 'zod';
import { FailureType } from '../../src/core/failures';
import { hostAllowed } from '../../src/core/hosts';
import { defineTool } from '../tool';

const HEARTBEAT_EVERY_MS = 1_000;

/** A header value is a literal or a reference to a named secret, so the secret itself never enters history. */
const headerValue = z.union([z.string(), z.strictObject({ $secret: z.string().regex(/^[A-Z][A-Z0-9_]*$/) })]);

export const httpRequest = defineTool({
  name: 'http.request',
  description: 'Send an HTTP request to an allowed host, with the step idempotency key as the Idempotency-Key header.',
  risk: 'medium',
  input: z
    .strictObject({
      method: z.enum(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']).default('GET'),
      url: z.url({ protocol: /^https?$/ }),
      headers: z.record(z.string(), headerValue).default({}),
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
    if (!hostAllowed(url, ctx.deps.http.allowedHosts)) {
      throw ApplicationFailure.create({
        type: FailureType.HostNotAllowed,
        nonRetryable: true,
        message: `host ${url.host} is not in the allowed hosts`,
      });
    }
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(input.headers)) {
      if (typeof value === 'string') headers[name] = value;
      else {
        const secret = ctx.deps.secret(value.$secret);
        if (secret === undefined) {
          throw ApplicationFailure.create({
            type: FailureType.SecretMissing,
            nonRetryable: true,
            message: `secret ${value.$secret} is not configured on the worker`,
          });
        }
        headers[name] = secret;
      }
    }
    let body = input.body;
    if (input.json !== undefined) {
      body = JSON.stringify(input.json);
      headers['content-type'] ??= 'application/json';
    }
    headers['idempotency-key'] = ctx.idempotencyKey;

    const signal = AbortSignal.any([ctx.signal, AbortSignal.timeout(input.timeoutSec * 1000)]);
    // Heartbeats tell Temporal the worker is alive during a slow call, so a dead worker is noticed quickly.
    const beat = setInterval(() => ctx.heartbeat(), HEARTBEAT_EVERY_MS);
    let res: Response;
    try {
      // redirect: manual, so an allowed host cannot bounce the request (and its headers) to another host.
      res = await ctx.deps.http.fetch(url, { method: input.method, headers, body, signal, redirect: 'manual' });
    } catch (err) {
      clearInterval(beat);
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
