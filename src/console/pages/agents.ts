/**
 * Agents: per agent, its recent jobs by outcome, the approvals waiting, spend against each job's budget (a bar chart
 * drawn server-side as SVG, with the same numbers in a table), and the freeze switch for operators.
 */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { listPendingApprovals } from '../../../approvals/deliver';
import { personOf } from '../../api/access';
import { agentName } from '../../api/http';
import { applicableFreeze } from '../../freeze';
import { listJobs, readJobState } from '../../jobs/read';
import { operatorAuth, personAuth as auth } from '../auth';
import type { ConsoleDeps } from '../deps';
import { layoutData, redirectWith } from '../render';
import { submittedOf } from './job-view';

/** Recent jobs looked at for the counts, and jobs per agent in the spend chart. */
const SCAN = 300;
const CHART_JOBS = 8;

export const agentPages: FastifyPluginAsyncZod<ConsoleDeps> = async (app, deps) => {
  const { client, audit, access, freeze } = deps;
  const freezeAuth = operatorAuth(access.operatorGroups, 'freeze or unfreeze');

  app.get('/console/agents', { config: { auth }, schema: { hide: true } }, async (req, reply) => {
    const agents = new Map<string, { name: string; counts: Record<string, number>; jobs: { id: string }[] }>();
    let scanned = 0;
    for await (const j of listJobs(client, {})) {
      if (++scanned > SCAN) break;
      const a = agents.get(j.agent) ?? { name: j.agent, counts: {}, jobs: [] };
      a.counts[j.status] = (a.counts[j.status] ?? 0) + 1;
      if (a.jobs.length < CHART_JOBS) a.jobs.push({ id: j.id });
      agents.set(j.agent, a);
    }
    const [pending, frozen] = await Promise.all([listPendingApprovals(client), freeze.list(0)]);
    const rows = await Promise.all(
      [...agents.values()]
        .sort((a, b) => a.name.localeCompare(b.name))
        .map(async (a) => {
          const spend = await Promise.all(
            a.jobs.map(async ({ id }) => {
              const [state, submitted] = await Promise.all([readJobState(client, id), submittedOf(audit, id)]);
              return {
                id,
                title: state?.title ?? id,
                cost: state?.spent.cost ?? 0,
                budget: submitted?.budget.maxCost,
              };
            }),
          );
          return {
            ...a,
            waiting: pending.filter((r) => r.agent === a.name).length,
            freeze: applicableFreeze(frozen, a.name),
            spend,
            scale: Math.max(1, ...spend.map((s) => Math.max(s.cost, s.budget ?? 0))),
          };
        }),
    );
    return reply.view('agents', {
      ...(await layoutData(req, reply, 'Agents')),
      agents: rows,
      global: frozen.find((f) => f.agent === undefined),
      operator: access.isOperator(req.principal),
      operatorGroups: access.operatorGroups,
      defaultMode: deps.freezeMode(),
    });
  });

  app.post(
    '/console/freeze',
    {
      config: { auth: freezeAuth },
      preHandler: app.csrfProtection,
      schema: {
        hide: true,
        body: z.object({
          _csrf: z.string().optional(),
          agent: agentName,
          mode: z.enum(['pause', 'abort']),
          reason: z.string().trim().min(1, 'say why you freeze the agent').max(500),
        }),
      },
    },
    async (req, reply) => {
      const { agent, mode, reason } = req.body;
      const { signalled } = await freeze.freeze({
        agent,
        mode,
        reason,
        by: personOf(req).id,
        at: new Date().toISOString(),
      });
      return redirectWith(
        req,
        reply,
        `/console/agents#agent-${agent}`,
        `You froze ${agent} (${mode === 'pause' ? 'paused' : 'undo and stop'}); ${signalled} running job${signalled === 1 ? ' was' : 's were'} told.`,
      );
    },
  );

  app.post(
    '/console/unfreeze',
    {
      config: { auth: freezeAuth },
      preHandler: app.csrfProtection,
      schema: { hide: true, body: z.object({ _csrf: z.string().optional(), agent: agentName }) },
    },
    async (req, reply) => {
      const { signalled } = await freeze.unfreeze(req.body.agent);
      return redirectWith(
        req,
        reply,
        `/console/agents#agent-${req.body.agent}`,
        `You lifted the freeze on ${req.body.agent}; ${signalled} running job${signalled === 1 ? ' was' : 's were'} told.`,
      );
    },
  );
};
