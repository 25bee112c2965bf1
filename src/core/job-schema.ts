/**
 * What a caller submits. Parsed once, at the boundary (API, CLI); everything past it sees a planned job.
 */
import { z } from 'zod';

export const stepIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,64}$/, 'step ids are 1-64 letters, digits, "_" or "-" (they name idempotency keys)');

export const stepSchema = z.strictObject({
  id: stepIdSchema,
  action: z.string().min(1),
  input: z.record(z.string(), z.unknown()).default({}),
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

export const jobSchema = z.strictObject({
  agent: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/, 'agent names are 1-100 letters, digits, ".", "_" or "-"'),
  title: z.string().min(1).max(200),
  context: z.record(z.string(), z.unknown()).default({}),
  budget: budgetSchema.default({}),
  steps: z.array(stepSchema).min(1, 'a job needs at least one step').max(200),
  /**
   * The person (people-file id) who asked for the job, asserted by the calling system; allowed per caller by the
   * people file's `mayAssert`. That person cannot approve the job.
   */
  requestedBy: z.string().min(1).max(100).optional(),
  /** POSTed the outcome when the job ends, signed with HMAC-SHA256 (X-Airlock-Signature). */
  callbackUrl: outboundUrl.optional(),
});
export type Job = z.infer<typeof jobSchema>;

/** Job ids become workflow ids and the first half of every idempotency key `<jobId>/<stepId>`. */
export const jobIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9._:-]{1,200}$/, 'job ids are 1-200 letters, digits, ".", "_", ":" or "-"');
