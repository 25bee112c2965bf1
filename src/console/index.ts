/**
 * The web console: pages for the people Airlock asks (approvers, operators, on-call engineers), served by the API's own
 * Fastify process at /console. Everything here is in one encapsulated scope so its session cookie, CSRF tokens,
 * form bodies, strict Content-Security-Policy and HTML error pages apply to the console alone, never to /v1.
 *
 * Pages are server-rendered HTML (Eta through @fastify/view, autoescaped) with plain forms, so approving and
 * rejecting work without JavaScript; the two small scripts (live status, deadline countdowns) are static files.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import csrf from '@fastify/csrf-protection';
import formbody from '@fastify/formbody';
import helmet from '@fastify/helmet';
import secureSession from '@fastify/secure-session';
import fastifyStatic from '@fastify/static';
import view from '@fastify/view';
import { Eta } from 'eta';
import type { FastifyError, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { AuditStore } from '../audit/store';
import { HttpError } from '../api/http';
import { AuditEventType } from '../core/audit';
import { projectRoot } from '../temporal/binaries';
import { consoleSessionKey, identify, SESSION_SECONDS } from './auth';
import { agentPages } from './pages/agents';
import { inboxPages } from './pages/inbox';
import { jobPages } from './pages/jobs';
import { onCallPages } from './pages/on-call';
import { signInPages } from './pages/sign-in';
import type { ConsoleDeps, ConsoleOptions } from './deps';
import { layoutData, userInfo } from './render';

export type { ConsoleDeps, ConsoleOptions } from './deps';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Console form posts about one job: a refused post is written to that job's audit trail. */
    auditJob?: (req: FastifyRequest) => string | undefined;
  }
}

const CONSOLE_DIR = join(projectRoot, 'src', 'console');

export const consoleRoutes: FastifyPluginAsyncZod<ConsoleOptions> = async (app, opts) => {
  const { access } = opts;
  // The root redirects to the console: people who open Airlock's address in a browser land on it.
  app.get('/', { config: { auth: { public: true } }, schema: { hide: true } }, async (_req, reply) =>
    reply.redirect('/console', 303),
  );

  await app.register(helmet, {
    // Strict: scripts and styles only from our own static files, no inline script or style, forms post only here.
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        defaultSrc: ["'none'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'"],
        imgSrc: ["'self'"],
        connectSrc: ["'self'"],
        formAction: ["'self'"],
        frameAncestors: ["'none'"],
        baseUri: ["'none'"],
      },
    },
    // HSTS only where a proxy terminates TLS for us; it would pin plain-http local development otherwise.
    strictTransportSecurity: false,
  });
  await app.register(secureSession, {
    key: consoleSessionKey(opts.sessionKey, opts.dataDir),
    cookieName: 'airlock_console',
    expiry: SESSION_SECONDS,
    // Secure whenever the request came over https (directly, or by a trusted proxy's X-Forwarded-Proto).
    cookie: { path: '/console', httpOnly: true, sameSite: 'lax', secure: 'auto', maxAge: SESSION_SECONDS },
  });
  await app.register(csrf, {
    sessionPlugin: '@fastify/secure-session',
    // A token is good only for the person it was made for: another person's page's token fails in your session.
    getUserInfo: (req: FastifyRequest) => userInfo(req),
  });
  await app.register(formbody, { bodyLimit: 16 * 1024 });
  await app.register(view, {
    engine: { eta: new Eta({ autoEscape: true, autoTrim: false }) },
    templates: join(CONSOLE_DIR, 'views'),
    production: true,
  });
  await app.register(
    async (scope) => {
      scope.addHook('onRoute', (route) => {
        route.config = { ...route.config, auth: { public: true } };
      });
      await scope.register(fastifyStatic, {
        root: join(CONSOLE_DIR, 'static'),
        prefix: '/console/static/',
        index: false,
        maxAge: '1h',
      });
    },
    { prefix: '' },
  );

  app.addHook('onRequest', identify({ ...opts, directory: access.directory }));

  app.setErrorHandler(async (err: FastifyError | HttpError, req, reply) => {
    const forged = typeof (err as FastifyError).code === 'string' && (err as FastifyError).code.startsWith('FST_CSRF');
    let status = 500;
    let message = 'Something went wrong on our side; the logs have request ' + req.id;
    if (err instanceof HttpError) {
      status = err.status;
      message = sentence(err.message);
    } else if (forged) {
      status = 403;
      message =
        'This form was refused: it did not carry a valid security token for your session. ' +
        'Open the page again and use its own buttons.';
    } else if (hasZodFastifySchemaValidationErrors(err)) {
      status = 400;
      message = err.validation.map((v) => `${v.instancePath.replace(/^\//, '') || 'form'}: ${v.message}`).join('; ');
    } else if ((err as { statusCode?: number }).statusCode === 429) {
      status = 429;
      message = 'Too many requests; wait a minute and try again.';
    } else if ((err as { statusCode?: number }).statusCode && (err as { statusCode: number }).statusCode < 500) {
      status = (err as { statusCode: number }).statusCode;
      message = sentence(err.message);
    } else req.log.error({ err }, 'console error');
    if ((status === 401 || status === 403) && req.method === 'POST')
      await auditRefusal(opts.audit, req, forged, message);
    return reply
      .status(status)
      .type('text/html')
      .view('error', { ...(await layoutData(req, reply, 'Refused')), status, message });
  });

  const deps: ConsoleDeps = opts;
  await app.register(signInPages, deps);
  await app.register(inboxPages, deps);
  await app.register(jobPages, deps);
  await app.register(agentPages, deps);
  await app.register(onCallPages, deps);
};

const sentence = (s: string) => (s ? s[0].toUpperCase() + s.slice(1) + (/[.!?]$/.test(s) ? '' : '.') : s);

/**
 * A refused console post about a job (no session, a forged or foreign CSRF token, a person who may not) goes into
 * that job's audit trail, as refused votes from the other channels do.
 */
async function auditRefusal(audit: AuditStore, req: FastifyRequest, forged: boolean, reason: string) {
  const jobId = req.routeOptions.config.auditJob?.(req);
  if (!jobId || !(await audit.head(jobId))) return;
  const body = (req.body ?? {}) as { decision?: unknown };
  await audit.append({
    jobId,
    key: `${AuditEventType.ApprovalRefused}:${randomUUID()}`,
    type: AuditEventType.ApprovalRefused,
    actor: req.principal?.kind === 'person' ? req.principal.person.id : 'anonymous',
    requestId: req.id,
    data: {
      ...(typeof (req.params as { id?: unknown }).id === 'string' ? { target: (req.params as { id: string }).id } : {}),
      path: req.routeOptions.url,
      ...(typeof body.decision === 'string' ? { decision: body.decision } : {}),
      channel: 'console',
      code: forged ? 'csrf_refused' : 'not_allowed',
      reason,
    },
  });
}
