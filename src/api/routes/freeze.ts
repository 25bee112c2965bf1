/** /v1/freeze: the kill switch, global or for one agent; operators only. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { FreezeControl } from '../../freeze';
import { personOf, type Access, type RouteAuth } from '../access';
import { agentName, bodyRefusals, refusals } from '../http';

export interface FreezeRoutesOptions {
  freeze: FreezeControl;
  /** The policy's `freeze.mode`, used when a freeze request names none. */
  freezeMode: () => 'pause' | 'abort';
  access: Access;
}

const freezeBody = z.strictObject({
  agent: agentName.optional(),
  mode: z.enum(['pause', 'abort']).optional(),
  reason: z.string().min(1).max(500),
});

const frozenEntry = z.object({
  agent: z.string().optional(),
  mode: z.enum(['pause', 'abort']),
  reason: z.string(),
  by: z.string(),
  at: z.string(),
});

export const freezeRoutes: FastifyPluginAsyncZod<FreezeRoutesOptions> = async (app, { freeze, freezeMode, access }) => {
  const auth: RouteAuth = {
    accepts: ['operator'],
    refusal: `only operators (${access.operatorGroups.join(', ')}) may freeze`,
  };

  app.post(
    '/v1/freeze',
    {
      config: { auth },
      schema: {
        summary: 'Kill switch on (global or one agent)',
        body: freezeBody,
        response: { 200: z.object({ frozen: frozenEntry, signalled: z.number() }), ...refusals(403, ...bodyRefusals) },
      },
    },
    async (req, reply) => {
      const entry = {
        agent: req.body.agent,
        mode: req.body.mode ?? freezeMode(),
        reason: req.body.reason,
        by: personOf(req).id,
        at: new Date().toISOString(),
      };
      const { signalled } = await freeze.freeze(entry);
      return reply.status(200).send({ frozen: entry, signalled });
    },
  );

  app.delete(
    '/v1/freeze',
    {
      config: { auth },
      schema: {
        summary: 'Kill switch off',
        body: z.strictObject({ agent: agentName.optional() }).optional(),
        response: { 200: z.object({ signalled: z.number() }), ...refusals(403, ...bodyRefusals) },
      },
    },
    async (req) => freeze.unfreeze(req.body?.agent),
  );
};
