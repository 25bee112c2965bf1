/**
 * On call: what needs a person, worst first — jobs whose undo failed, then failed jobs, then frozen ones and those
 * waiting for approval — with the operators' actions on each: cancel and reset to a step (still running), retry
 * (failed), compensate again and resolve by hand (undo failed); the forms are ./operations.ts's.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { JobStatus } from '../../core/job';
import { listJobs, readJobState } from '../../jobs/read';
import { readRepair } from '../../operations/job';
import { personAuth as auth } from '../auth';
import type { ConsoleDeps } from '../deps';
import { fmt, layoutData } from '../render';
import { operationForms } from './operations';

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
    const operator = access.isOperator(req.principal);
    const groups = await Promise.all(
      GROUPS.map(async (g) => {
        const jobs = [];
        for await (const j of listJobs(client, { status: g.status })) {
          const state = await readJobState(client, j.id);
          // Only a job whose undo failed can have a repair (one running, say).
          const repair =
            operator && state && g.status === JobStatus.CompensationFailed ? await readRepair(client, j.id) : undefined;
          jobs.push({
            ...j,
            title: state?.title ?? j.id,
            error: state?.error?.message,
            frozen: state?.frozen,
            ops: operator && state ? operationForms(state, repair, fmt.step) : undefined,
          });
          if (jobs.length >= PER_GROUP) break;
        }
        return { ...g, jobs, cancellable: g.status !== JobStatus.Failed && g.status !== JobStatus.CompensationFailed };
      }),
    );
    return reply.view('on-call', {
      ...(await layoutData(req, reply, 'On call')),
      groups,
      operator,
      operatorGroups: access.operatorGroups,
    });
  });
};
