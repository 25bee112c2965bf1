/**
 * What a caller submits. Parsed once, at the boundary (API, CLI); everything past it sees a planned job.
 */
import { z } from 'zod';

/** Deepest nesting of objects and arrays in a job's context and step inputs. */
export const MAX_JSON_DEPTH = 32;
/** Largest job, as JSON: it travels in workflow history (payloads up to 2 MB) and the audit trail. */
export const MAX_JOB_BYTES = 256 * 1024;

/**
 * Why a string cannot be stored, or undefined. PostgreSQL text and jsonb hold neither NUL nor lone UTF-16
 * surrogates (and Temporal's UTF-8 payloads turn the latter into U+FFFD), so a job carrying one would be accepted
 * and then never audited.
 */
export function unstorableString(s: string): string | undefined {
  if (s.includes('\u0000')) return 'contains a NUL character (\\u0000), which cannot be stored';
  if (/[\uD800-\uDFFF]/u.test(s)) return 'contains a lone UTF-16 surrogate, which cannot be stored';
  return undefined;
}

/** Reports every string (keys included) that cannot be stored, non-finite numbers, and nesting over MAX_JSON_DEPTH. */
function checkStorable(value: unknown, ctx: z.RefinementCtx, path: (string | number)[], depth: number): void {
  if (typeof value === 'string') {
    const why = unstorableString(value);
    if (why) ctx.addIssue({ code: 'custom', path, message: why });
  } else if (typeof value === 'number') {
    if (!Number.isFinite(value)) ctx.addIssue({ code: 'custom', path, message: 'numbers must be finite' });
  } else if (value && typeof value === 'object') {
    if (depth >= MAX_JSON_DEPTH) {
      ctx.addIssue({ code: 'custom', path, message: `nested more than ${MAX_JSON_DEPTH} levels deep` });
      return;
    }
    for (const [k, v] of Object.entries(value)) {
      const key = Array.isArray(value) ? Number(k) : k;
      const why = typeof key === 'string' ? unstorableString(key) : undefined;
      if (why) ctx.addIssue({ code: 'custom', path: [...path, key], message: `key ${why}` });
      checkStorable(v, ctx, [...path, key], depth + 1);
    }
  }
}

/** A string the stores can hold. */
const storableString = () =>
  z.string().superRefine((s, ctx) => {
    const why = unstorableString(s);
    if (why) ctx.addIssue({ code: 'custom', message: why });
  });

/** A JSON object the stores can hold: storable strings and keys, finite numbers, at most MAX_JSON_DEPTH deep. */
const storableRecord = () => z.record(z.string(), z.unknown()).superRefine((r, ctx) => checkStorable(r, ctx, [], 1));

export const stepIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,64}$/, 'step ids are 1-64 letters, digits, "_" or "-" (they name idempotency keys)');

export const stepSchema = z.strictObject({
  id: stepIdSchema,
  action: storableString().min(1).max(200),
  input: storableRecord().default({}),
});
export type Step = z.infer<typeof stepSchema>;

export const budgetSchema = z.strictObject({
  maxActions: z.number().int().positive().optional(),
  maxCost: z.number().positive().optional(),
  deadline: z.iso.datetime({ offset: true }).optional(),
});
export type Budget = z.infer<typeof budgetSchema>;

/**
 * An http(s) URL without user-info: credentials in a URL would be kept in history and the audit trail. Where it may
 * go (hosts, https, addresses) is checked by the worker when it sends (activities/http/outbound.ts).
 */
export const outboundUrl = z
  .url({ protocol: /^https?$/ })
  .refine((u) => !/^[a-z]+:\/\/[^/?#]*@/i.test(u), 'credentials in URLs (user:pass@host) are not allowed');

export const jobSchema = z
  .strictObject({
    agent: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/, 'agent names are 1-100 letters, digits, ".", "_" or "-"'),
    title: storableString().min(1).max(200),
    context: storableRecord().default({}),
    budget: budgetSchema.default({}),
    steps: z.array(stepSchema).min(1, 'a job needs at least one step').max(200),
    /**
     * The person (people-file id) who asked for the job, asserted by the calling system; allowed per caller by the
     * people file's `mayAssert`. That person cannot approve the job.
     */
    requestedBy: z.string().min(1).max(100).optional(),
    /** POSTed the outcome when the job ends, signed with HMAC-SHA256 (X-Airlock-Signature). */
    callbackUrl: outboundUrl.optional(),
  })
  .refine((job) => new TextEncoder().encode(JSON.stringify(job)).length <= MAX_JOB_BYTES, {
    message: `a job is at most ${MAX_JOB_BYTES / 1024} KiB of JSON`,
  });
export type Job = z.infer<typeof jobSchema>;

/**
 * Job ids become workflow ids and the first half of every idempotency key `<jobId>/<stepId>` and approval id
 * `<jobId>:<stepId>`; both bounds together fit the API's path parameters (MAX_ID_PARAM_LENGTH).
 */
export const jobIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9._:-]{1,200}$/, 'job ids are 1-200 letters, digits, ".", "_", ":" or "-"');

/** The longest id the API takes in a path: an approval id, `<jobId>:<stepId>` (200 + 1 + 64). */
export const MAX_ID_PARAM_LENGTH = 200 + 1 + 64;
