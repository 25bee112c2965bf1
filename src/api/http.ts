/** What every route answers with when it refuses: an HttpError, rendered by the error handler as a problem body. */
import { z } from 'zod';
import { MAX_ID_PARAM_LENGTH } from '../core/job-schema';

export const problem = z.object({
  error: z.string(),
  message: z.string(),
  issues: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
});

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
