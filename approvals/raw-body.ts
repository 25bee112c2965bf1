/**
 * Webhook routes verify a signature over the raw bytes (Slack, GitHub): in their own Fastify scope, the body stays
 * the string it arrived as, replacing (in that scope only) whatever parsers the server registered for these types.
 */
import type { FastifyInstance } from 'fastify';

const SIGNED_BODY_TYPES = ['application/json', 'application/x-www-form-urlencoded'];

export function keepRawBody(scope: FastifyInstance): void {
  for (const type of SIGNED_BODY_TYPES) if (scope.hasContentTypeParser(type)) scope.removeContentTypeParser(type);
  scope.addContentTypeParser(SIGNED_BODY_TYPES, { parseAs: 'string' }, (_req, body, done) => done(null, body));
}
