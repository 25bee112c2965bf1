/**
 * Signing in with one's own token (locally; behind the authenticating proxy nobody needs this form) and signing out.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ConsoleDeps } from '../deps';
import { safeNext } from '../auth';
import { layoutData, redirectWith } from '../render';

export const signInPages: FastifyPluginAsyncZod<ConsoleDeps> = async (app, { access }) => {
  const optional = { session: 'optional' } as const;

  app.get(
    '/console/sign-in',
    { config: { auth: optional }, schema: { hide: true, querystring: z.object({ next: z.string().optional() }) } },
    async (req, reply) => {
      if (req.principal) return reply.redirect(safeNext(req.query.next), 303);
      return reply.view('sign-in', { ...(await layoutData(req, reply, 'Sign in')), next: safeNext(req.query.next) });
    },
  );

  app.post(
    '/console/sign-in',
    {
      config: { auth: optional },
      preHandler: app.csrfProtection,
      schema: {
        hide: true,
        body: z.object({ _csrf: z.string().optional(), token: z.string().max(1000), next: z.string().optional() }),
      },
    },
    async (req, reply) => {
      const who = req.body.token ? access.directory.byToken(req.body.token.trim()) : undefined;
      const next = safeNext(req.body.next);
      if (!who || !('person' in who) || !who.person.tokenSha256) {
        const error = !who
          ? 'That token is not in the people file. Check it, or ask an administrator for yours.'
          : `That token belongs to the system "${'caller' in who ? who.caller.id : ''}", not to a person.`;
        return reply.status(401).view('sign-in', { ...(await layoutData(req, reply, 'Sign in')), next, error });
      }
      req.session.set('person', who.person.id);
      req.session.set('token', who.person.tokenSha256.slice(0, 16));
      // A fresh CSRF secret for the signed-in session: nothing made before signing in stays valid after.
      req.session.set('_csrf', undefined);
      return redirectWith(req, reply, next, `Signed in as ${who.person.name ?? who.person.id}.`);
    },
  );

  app.post(
    '/console/sign-out',
    { config: { auth: optional }, preHandler: app.csrfProtection, schema: { hide: true } },
    async (req, reply) => {
      req.session.delete();
      return reply.redirect('/console/sign-in', 303);
    },
  );
};
