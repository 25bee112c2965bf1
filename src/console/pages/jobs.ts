/**
 * Jobs: the list (by status, agent, requester, start time), one job's page, its live status for the page's script,
 * and cancelling (operators).
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { personOf } from '../../api/access';
import { agentName, HttpError } from '../../api/http';
import { JobStatus } from '../../core/job';
import { listJobs, readJobState } from '../../jobs/read';
import { operatorAuth, personAuth as auth } from '../auth';
import type { ConsoleDeps } from '../deps';
import { FINAL_STATUSES, layoutData, redirectWith } from '../render';
import { jobView, stateVersion, trailEnded } from './job-view';

/** An empty form field is no filter. */
const blank = (v: unknown) => (v === '' ? undefined : v);

/** At most this many jobs are looked at per list (the newest first). */
const SCAN = 500;

export const jobPages: FastifyPluginAsyncZod<ConsoleDeps> = async (app, deps) => {
  const { client, audit, access } = deps;

  app.get(
    '/console/jobs',
    {
      config: { auth },
      schema: {
        hide: true,
        querystring: z.object({
          status: z.preprocess(blank, z.enum(Object.values(JobStatus) as [string, ...string[]]).optional()),
          agent: z.preprocess(blank, agentName.optional()),
          requester: z.preprocess(blank, z.string().max(200).optional()),
          since: z.preprocess(blank, z.enum(['1h', '24h', '7d', '30d']).optional()),
        }),
      },
    },
    async (req, reply) => {
      const { status, agent, requester, since } = req.query;
      const after = since
        ? Date.now() - { '1h': 3600e3, '24h': 86400e3, '7d': 7 * 86400e3, '30d': 30 * 86400e3 }[since]
        : 0;
      const rows = [];
      let scanned = 0;
      for await (const j of listJobs(client, { status, agent })) {
        if (++scanned > SCAN || rows.length >= 100) break;
        if (j.startedAt.getTime() < after) continue;
        const state = await readJobState(client, j.id);
        if (requester && state?.requester !== requester) continue;
        rows.push({ ...j, title: state?.title ?? '', requester: state?.requester ?? '', frozen: state?.frozen });
      }
      return reply.view('jobs', {
        ...(await layoutData(req, reply, 'Jobs')),
        rows,
        filter: { status: status ?? '', agent: agent ?? '', requester: requester ?? '', since: since ?? '' },
        statuses: Object.values(JobStatus),
      });
    },
  );

  app.get(
    '/console/jobs/:id',
    { config: { auth }, schema: { hide: true, params: z.object({ id: z.string().min(1) }) } },
    async (req, reply) => {
      const state = await readJobState(client, req.params.id);
      if (!state) throw new HttpError(404, 'not_found', `there is no job ${req.params.id}`);
      const view = await jobView(audit, state, personOf(req));
      return reply.view('job', {
        ...(await layoutData(req, reply, state.title)),
        ...view,
        live:
          FINAL_STATUSES.has(state.status) && view.ended
            ? undefined
            : { url: `/console/jobs/${encodeURIComponent(state.jobId)}/live`, version: view.version },
        operator: access.isOperator(req.principal),
        temporalUrl: `${deps.temporalUiUrl}/namespaces/${encodeURIComponent(deps.namespace)}/workflows/${encodeURIComponent(state.jobId)}`,
      });
    },
  );

  // What the page's script polls: the status and a version of everything the page shows.
  app.get(
    '/console/jobs/:id/live',
    { config: { auth }, schema: { hide: true, params: z.object({ id: z.string().min(1) }) } },
    async (req, reply) => {
      const state = await readJobState(client, req.params.id);
      if (!state) throw new HttpError(404, 'not_found', `there is no job ${req.params.id}`);
      const ended = await trailEnded(audit, state.jobId);
      return reply.header('cache-control', 'no-store').send({
        status: state.status,
        version: stateVersion(state),
        final: FINAL_STATUSES.has(state.status) && ended,
      });
    },
  );

  app.post(
    '/console/jobs/:id/cancel',
    {
      config: {
        auth: operatorAuth(access.operatorGroups, 'cancel jobs'),
        auditJob: (req) => (req.params as { id?: string }).id,
      },
      preHandler: app.csrfProtection,
      schema: {
        hide: true,
        params: z.object({ id: z.string().min(1) }),
        body: z.object({ _csrf: z.string().optional() }),
      },
    },
    async (req, reply) => {
      const state = await readJobState(client, req.params.id);
      if (!state) throw new HttpError(404, 'not_found', `there is no job ${req.params.id}`);
      if (FINAL_STATUSES.has(state.status))
        throw new HttpError(409, 'ended', `the job has already ended (${state.status}); there is nothing to cancel`);
      await client.workflow.getHandle(state.jobId).cancel();
      req.log.info({ jobId: state.jobId, by: personOf(req).id }, 'job cancelled from the console');
      return redirectWith(
        req,
        reply,
        `/console/jobs/${encodeURIComponent(state.jobId)}`,
        `You cancelled the job. Airlock is undoing what it did.`,
      );
    },
  );
};
