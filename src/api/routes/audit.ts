/** /v1/jobs/:id/audit: a job's audit trail, its signed head, and on request the recomputed chain. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AuditStore } from '../../audit/store';
import type { Access } from '../access';
import { HttpError, idParams, refusals } from '../http';

export interface AuditRoutesOptions {
  audit: AuditStore;
  access: Access;
}

export const auditRoutes: FastifyPluginAsyncZod<AuditRoutesOptions> = async (app, { audit, access }) => {
  app.get(
    '/v1/jobs/:id/audit',
    {
      schema: {
        summary: 'The audit trail; ?verify=1 recomputes the chain',
        params: idParams,
        querystring: z.object({ verify: z.enum(['0', '1']).optional() }),
        response: {
          200: z.looseObject({
            jobId: z.string(),
            events: z.array(z.looseObject({ seq: z.number(), key: z.string(), type: z.string(), hash: z.string() })),
            head: z.looseObject({ seq: z.number(), hash: z.string() }).nullable(),
            /** The PEM public key of the key that signed the head (what `airlock audit export` writes last). */
            publicKey: z.string().nullable(),
            verification: z.looseObject({ ok: z.boolean() }).optional(),
          }),
          ...refusals(404),
        },
      },
    },
    async (req) => {
      const events = await audit.events(req.params.id);
      if (!events.length) throw new HttpError(404, 'not_found', `no audit trail for ${req.params.id}`);
      const submitted = events[0].data as { agent?: string };
      if (!access.mayTouchAgent(req.principal, String(submitted.agent ?? '')))
        throw new HttpError(404, 'not_found', `no audit trail for ${req.params.id}`);
      return {
        jobId: req.params.id,
        events,
        head: (await audit.head(req.params.id)) ?? null,
        publicKey: await audit.headKeyPem(req.params.id),
        /** Refused votes after the job ended: kept beside the sealed trail, not in it. */
        afterEnd: await audit.outsideTrail(req.params.id),
        ...(req.query.verify === '1' ? { verification: await audit.verify(req.params.id) } : {}),
      };
    },
  );
};
