/** What every route answers with when it refuses: an HttpError, rendered by the error handler as a problem body. */
import { z } from 'zod';
import { MAX_ID_PARAM_LENGTH } from '../core/job-schema';

export const problem = z.object({
  error: z.string(),
  message: z.string(),
  issues: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
});

/** Status codes a route may refuse with; each answers a `problem` body. */
export type RefusalStatus = 400 | 401 | 403 | 404 | 409 | 413 | 415 | 422 | 429 | 503;

/**
 * The refusals a route documents, each a `problem`. Every authenticated route may answer 400 (invalid request), 401
 * (no valid token), 429 (rate limit) and 503 (Temporal or the database unavailable); routes add their own.
 */
export function refusals(...codes: RefusalStatus[]): Partial<Record<RefusalStatus, typeof problem>> {
  const all: RefusalStatus[] = [400, 401, 429, 503, ...codes];
  return Object.fromEntries(all.map((c) => [c, problem]));
}

/** Refusals of a route that takes a body: too large (413), not JSON (415). */
export const bodyRefusals = [413, 415] as const;

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly issues?: { path: string; message: string }[],
  ) {
    super(message);
  }
}

/** The `:id` path parameter of a resource. */
export const idParams = z.object({ id: z.string().min(1).max(MAX_ID_PARAM_LENGTH) });

/** Agent names as filters and freeze scopes accept them. */
export const agentName = z.string().regex(/^[A-Za-z0-9._-]+$/);
