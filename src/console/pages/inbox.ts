/**
 * The inbox (the console's landing page): the approval requests this person may decide, nearest deadline first, each
 * with everything needed to decide it; and the decision form's handler, which votes through the one checked vote
 * path (deliverVote) as a `console` attestation.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ApprovalRefusedError, deliverVote, listPendingApprovals, parseRequestId } from '../../../approvals/deliver';
import { personOf } from '../../api/access';
import type { RefusalCode } from '../../core/approval';
import { personAuth as auth } from '../auth';
import type { ConsoleDeps } from '../deps';
import { layoutData, redirectWith } from '../render';
import { requestView } from './decide';

/** Refusals in words, as the person reads them; the workflow's own message follows. */
const REFUSAL_WORDS: Record<RefusalCode, { status: number; headline: string }> = {
  not_in_group: { status: 403, headline: 'You are not one of the people this request asks.' },
  self_approval: { status: 403, headline: 'You asked for this job, so you cannot approve it yourself.' },
  unknown_person: { status: 403, headline: 'You are not in the people file.' },
  invalid_attestation: { status: 403, headline: 'Your vote could not be vouched for by the console.' },
  already_voted: { status: 409, headline: 'You have already voted on this request.' },
  request_closed: { status: 409, headline: 'This request is no longer open.' },
  digest_mismatch: {
    status: 409,
    headline: 'The action changed since you looked at it; read it again before deciding.',
  },
  unknown_request: { status: 404, headline: 'There is no such request.' },
};

export const inboxPages: FastifyPluginAsyncZod<ConsoleDeps> = async (app, { client, audit, attestor }) => {
  app.get('/console', { config: { auth }, schema: { hide: true } }, async (req, reply) => {
    const person = personOf(req);
    const pending = (await listPendingApprovals(client))
      .filter((r) => r.groups.some((g) => person.groups.includes(g)) && r.requester !== person.id)
      .sort((a, b) => Date.parse(a.deadline) - Date.parse(b.deadline))
      .map((r) => requestView(person, r));
    return reply.view('inbox', {
      ...(await layoutData(req, reply, 'Inbox')),
      requests: pending.filter((r) => r.mine === 'decide'),
      voted: pending.filter((r) => r.mine !== 'decide'),
    });
  });

  app.post(
    '/console/approvals/:id/decision',
    {
      config: { auth, auditJob: (req) => jobOf((req.params as { id?: string }).id) },
      preHandler: app.csrfProtection,
      schema: {
        hide: true,
        params: z.object({ id: z.string().min(1) }),
        body: z.object({
          _csrf: z.string().optional(),
          decision: z.enum(['approve', 'reject']),
          comment: z.string().max(2000).optional(),
          digest: z.string().regex(/^sha256:[0-9a-f]{64}$/, 'must be the digest shown on the page'),
        }),
      },
    },
    async (req, reply) => {
      const person = personOf(req);
      const { decision, digest } = req.body;
      const comment = req.body.comment?.trim() || undefined;
      const layout = await layoutData(req, reply, 'Refused');
      if (decision === 'reject' && !comment)
        return reply.status(400).view('error', {
          ...layout,
          status: 400,
          message: 'A rejection needs a reason: go back, say why in the box, and press Reject again.',
        });
      try {
        const result = await deliverVote(
          client,
          attestor,
          {
            person,
            requestId: req.params.id,
            decision,
            channel: 'console',
            channelIdentity: `console:${person.id}`,
            digest,
            ...(comment ? { comment } : {}),
          },
          audit,
          req.id,
        );
        const { jobId, stepId } = parseRequestId(req.params.id);
        const done = decision === 'approve' ? 'approved' : 'rejected';
        return redirectWith(
          req,
          reply,
          `/console/jobs/${encodeURIComponent(jobId)}`,
          `You ${done} step ${stepId}. The request is now ${result.status} (${result.approvals} of ${result.quorum} approvals).`,
        );
      } catch (err) {
        if (!(err instanceof ApprovalRefusedError)) throw err;
        const words = REFUSAL_WORDS[err.code];
        return reply.status(words.status).view('error', {
          ...layout,
          status: words.status,
          message: `${words.headline} ${err.message.replace(/^./, (c) => c.toUpperCase())}.`,
        });
      }
    },
  );
};

function jobOf(requestId: string | undefined): string | undefined {
  try {
    return requestId ? parseRequestId(requestId).jobId : undefined;
  } catch {
    return undefined;
  }
}
