/**
 * /healthz: what submitting a job needs — Temporal answering, the namespace, Airlock's search attributes, the audit
 * database — each `ok` or what is wrong, 503 unless all are ok. /metrics (Prometheus). Public, not in the OpenAPI
 * document.
 */
import type { Client } from '@temporalio/client';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { AuditStore } from '../../audit/store';
import { JobStatus } from '../../core/job';
import { countJobs } from '../../jobs/read';
import { jobsByState, registry as metricsRegistry } from '../../metrics';
import { missingSearchAttributes } from '../../temporal/search-attributes';

export interface HealthRoutesOptions {
  client: Client;
  audit: AuditStore;
  namespace: string;
}

/** How long a health check waits for an answer: a hung dependency is unhealthy, not a hung probe. */
const CHECK_TIMEOUT_MS = 3000;

export const healthRoutes: FastifyPluginAsyncZod<HealthRoutesOptions> = async (app, { client, audit, namespace }) => {
  const withDeadline = <T>(fn: () => Promise<T>) => client.connection.withDeadline(Date.now() + CHECK_TIMEOUT_MS, fn);
  const check = async (fn: () => Promise<string | undefined>) => {
    try {
      return (await fn()) ?? 'ok';
    } catch (err) {
      return (err as Error).message || String(err);
    }
  };

  app.get('/healthz', { config: { auth: { public: true } }, schema: { hide: true } }, async (_req, reply) => {
    const [temporal, ns, searchAttributes, database] = await Promise.all([
      check(async () => void (await withDeadline(() => client.workflowService.getSystemInfo({})))),
      check(async () => void (await withDeadline(() => client.workflowService.describeNamespace({ namespace })))),
      check(async () => {
        const missing = await withDeadline(() => missingSearchAttributes(client, namespace));
        return missing.length ? `missing in namespace ${namespace}: ${missing.join(', ')}` : undefined;
      }),
      check(async () => {
        let timer: NodeJS.Timeout | undefined;
        const timeout = new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer in ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
        });
        await Promise.race([audit.db.query('SELECT 1'), timeout]).finally(() => clearTimeout(timer));
        return undefined;
      }),
    ]);
    const checks = { temporal, namespace: ns, searchAttributes, database };
    const ok = Object.values(checks).every((c) => c === 'ok');
    return reply.status(ok ? 200 : 503).send({ status: ok ? 'ok' : 'unhealthy', ...checks });
  });

  // compensation_failed less the jobs a repair undid, which count as compensated or resolved_by_hand (src/jobs/read.ts).
  jobsByState((status) => countJobs(client, status), Object.values(JobStatus));
  app.get('/metrics', { config: { auth: { public: true } }, schema: { hide: true } }, async (_req, reply) =>
    reply.header('content-type', metricsRegistry.contentType).send(await metricsRegistry.metrics()),
  );
};
