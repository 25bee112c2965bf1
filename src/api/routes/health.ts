/** /healthz (Temporal and the database answer) and /metrics (Prometheus); public, not in the OpenAPI document. */
import type { Client } from '@temporalio/client';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { AuditStore } from '../../audit/store';
import { JobStatus } from '../../core/job';
import { jobsQuery } from '../../core/jobs-query';
import { jobsByState, registry as metricsRegistry } from '../../metrics';

export interface HealthRoutesOptions {
  client: Client;
  audit: AuditStore;
}

export const healthRoutes: FastifyPluginAsyncZod<HealthRoutesOptions> = async (app, { client, audit }) => {
  app.get('/healthz', { config: { auth: { public: true } }, schema: { hide: true } }, async (_req, reply) => {
    const checks = await Promise.allSettled([client.workflowService.getSystemInfo({}), audit.db.query('SELECT 1')]);
    const [temporal, database] = checks.map((c) =>
      c.status === 'fulfilled' ? 'ok' : String((c as PromiseRejectedResult).reason),
    );
    return reply.status(temporal === 'ok' && database === 'ok' ? 200 : 503).send({ temporal, database });
  });

  jobsByState(
    async (status) => Number((await client.workflow.count(jobsQuery({ status }))).count),
    Object.values(JobStatus),
  );
  app.get('/metrics', { config: { auth: { public: true } }, schema: { hide: true } }, async (_req, reply) =>
    reply.header('content-type', metricsRegistry.contentType).send(await metricsRegistry.metrics()),
  );
};
