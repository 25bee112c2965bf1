/**
 * On call: what needs a person, worst first — jobs whose undo failed, then failed jobs, then frozen ones and those
 * waiting for approval — with cancel for operators on the ones still running. Retry, reset and compensate are not
 * console actions yet (see README "Jobs" for what the CLI offers).
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { JobStatus } from '../../core/job';
import { listJobs, readJobState } from '../../jobs/read';
import { personAuth as auth } from '../auth';
import type { ConsoleDeps } from '../deps';
import { layoutData } from '../render';

const GROUPS = [
  { status: JobStatus.CompensationFailed, heading: 'Undo failed: something is left half done' },
  { status: JobStatus.Failed, heading: 'Failed' },
  { status: JobStatus.Frozen, heading: 'Frozen' },
  { status: JobStatus.AwaitingApproval, heading: 'Waiting for approval' },
  { status: JobStatus.Running, heading: 'Running' },
] as const;
const PER_GROUP = 25;

export const onCallPages: FastifyPluginAsyncZod<ConsoleDeps> = async (app, { client, access }) => {
  app.get('/console/on-call', { config: { auth }, schema: { hide: true } }, async (req, reply) => {
    const groups = await Promise.all(
      GROUPS.map(async (g) => {
        const jobs = [];
        for await (const j of listJobs(client, { status: g.status })) {
          const state = await readJobState(client, j.id);
          jobs.push({ ...j, title: state?.title ?? j.id, error: state?.error?.message, frozen: state?.frozen });
          if (jobs.length >= PER_GROUP) break;
        }
        return { ...g, jobs, cancellable: g.status !== JobStatus.Failed && g.status !== JobStatus.CompensationFailed };
      }),
    );
    return reply.view('on-call', {
      ...(await layoutData(req, reply, 'On call')),
      groups,
      operator: access.isOperator(req.principal),
      operatorGroups: access.operatorGroups,
    });
  });
};
