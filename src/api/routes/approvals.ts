/** /v1/approvals: open approval requests, and deciding one as yourself through the one checked vote path. */
import type { Client } from '@temporalio/client';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ApprovalRefusedError, deliverVote, listPendingApprovals } from '../../../approvals/deliver';
import type { AuditStore } from '../../audit/store';
import type { RefusalCode } from '../../core/approval';
import type { Attestor } from '../../core/attestation';
import { personOf, type Access } from '../access';
import { bodyRefusals, HttpError, idParams, refusals } from '../http';

export interface ApprovalRoutesOptions {
  client: Client;
  audit: AuditStore;
  access: Access;
  /** Signs each vote as the API channel's attestation: this person, authenticated by this token. */
  attestor: Attestor;
}

const REFUSAL_STATUS: Record<RefusalCode, number> = {
  not_in_group: 403,
  self_approval: 403,
  unknown_person: 403,
  invalid_attestation: 403,
  already_voted: 409,
  request_closed: 409,
  digest_mismatch: 409,
  unknown_request: 404,
};

export const approvalRoutes: FastifyPluginAsyncZod<ApprovalRoutesOptions> = async (
  app,
  { client, audit, access, attestor },
) => {
  app.get(
    '/v1/approvals',
    {
      schema: {
        summary: 'Open approval requests',
        querystring: z.object({ status: z.literal('pending').default('pending') }),
        response: {
          200: z.object({
            approvals: z.array(
              z.looseObject({ id: z.string(), jobId: z.string(), stepId: z.string(), status: z.string() }),
            ),
          }),
          ...refusals(),
        },
      },
    },
    async (req) => ({
      approvals: (await listPendingApprovals(client)).filter((r) => access.mayTouchAgent(req.principal, r.agent)),
    }),
  );

  app.post(
    '/v1/approvals/:id/decision',
    {
      config: { auth: { accepts: ['person'], refusal: 'only people decide approvals; callers cannot' } },
      schema: {
        summary: 'Decide an approval request as yourself',
        params: idParams,
        body: z.strictObject({
          decision: z.enum(['approve', 'reject']),
          comment: z.string().max(2000).optional(),
          /** The input digest you reviewed; omitted: the one pending now. */
          digest: z
            .string()
            .regex(/^sha256:[0-9a-f]{64}$/)
            .optional(),
        }),
        response: { 200: z.looseObject({}), ...refusals(403, 404, 409, ...bodyRefusals) },
      },
    },
    async (req) => {
      const person = personOf(req);
      try {
        return await deliverVote(
          client,
          attestor,
          {
            person,
            requestId: req.params.id,
            channel: 'api',
            // The token that authenticated the person, by a prefix of its hash (never the token itself).
            channelIdentity: `token:${person.tokenSha256!.slice(0, 16)}`,
            ...req.body,
          },
          audit,
          req.id,
        );
      } catch (err) {
        if (err instanceof ApprovalRefusedError) throw new HttpError(REFUSAL_STATUS[err.code], err.code, err.message);
        throw err;
      }
    },
  );
};
