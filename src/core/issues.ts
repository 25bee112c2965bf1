/** zod issues in the one `path: message` format every boundary (API, CLI, activities, config) reports. */
import type { z } from 'zod';

/** Formats zod issues as `path: message` lines, the one format every boundary uses. */
export function formatIssues(error: z.ZodError, prefix: (string | number)[] = []): { path: string; message: string }[] {
  return error.issues.map((issue) => ({
    path: [...prefix, ...issue.path.map((p) => (typeof p === 'symbol' ? String(p) : p))].join('.') || '(root)',
    message: issue.message,
  }));
}
