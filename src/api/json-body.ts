/**
 * The JSON body parser: Fastify's (prototype poisoning refused), after checks that keep bad bodies from reaching
 * code that cannot handle them. An empty body, nesting deeper than MAX_BODY_DEPTH (recursive code further on would
 * overflow the stack) and numbers JSON cannot represent (`1e999` parses as Infinity) are answered 400.
 */
import type { FastifyInstance } from 'fastify';
import { MAX_JSON_DEPTH } from '../core/job-schema';
import { HttpError } from './http';

/** Deepest nesting a body may have; above a job's own bound, so that one names the field. */
export const MAX_BODY_DEPTH = MAX_JSON_DEPTH * 2;

/** How deep `text` nests arrays and objects, stopping once past `limit`; strings are skipped. */
export function nestingDepth(text: string, limit: number): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      if (++depth > max && (max = depth) > limit) return max;
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return max;
}

/** The path of the first non-finite number in a parsed body (at most MAX_BODY_DEPTH deep), or undefined. */
function nonFinite(value: unknown, path: string): string | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? undefined : path || '(body)';
  if (!value || typeof value !== 'object') return undefined;
  for (const [k, v] of Object.entries(value)) {
    const found = nonFinite(v, path ? `${path}.${k}` : k);
    if (found) return found;
  }
  return undefined;
}

/** Replaces the application/json parser with the checked one. */
export function useCheckedJsonParser(
  app: Pick<FastifyInstance, 'getDefaultJsonParser' | 'removeContentTypeParser' | 'addContentTypeParser'>,
): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    const text = body as string;
    if (!text.trim())
      return done(new HttpError(400, 'empty_body', 'the body is empty; send a JSON document'), undefined);
    if (nestingDepth(text, MAX_BODY_DEPTH) > MAX_BODY_DEPTH)
      return done(
        new HttpError(400, 'too_deeply_nested', `the body nests more than ${MAX_BODY_DEPTH} levels deep`),
        undefined,
      );
    void parse(req, text, (err, value) => {
      if (err) return done(err, undefined);
      const at = nonFinite(value, '');
      if (at) return done(new HttpError(400, 'invalid_number', `${at}: the number is out of range`), undefined);
      done(null, value);
    });
  });
}
