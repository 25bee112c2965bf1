/**
 * Prometheus metrics (`GET /metrics`). Activities and the API record into one registry; in `airlock dev` and
 * `airlock serve` they share a process, so one scrape sees both.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ActivityMetrics } from './core/metrics';

export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: 'airlock_process_' });

export const httpDuration = new Histogram({
  name: 'airlock_http_request_duration_seconds',
  help: 'API latency by route and status',
  labelNames: ['method', 'route', 'status'] as const,
  buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
  registers: [registry],
});

export const jobsSubmitted = new Counter({
  name: 'airlock_jobs_submitted_total',
  help: 'Jobs started through the API (duplicates of an Idempotency-Key not counted)',
  labelNames: ['agent'] as const,
  registers: [registry],
});

export const policyDecisions = new Counter({
  name: 'airlock_policy_decisions_total',
  help: 'Policy decisions by outcome and rule',
  labelNames: ['outcome', 'rule'] as const,
  registers: [registry],
});

export const approvalWait = new Histogram({
  name: 'airlock_approval_wait_seconds',
  help: 'Time from an approval request to its outcome',
  labelNames: ['status'] as const,
  buckets: [1, 10, 60, 300, 900, 3600, 4 * 3600, 24 * 3600],
  registers: [registry],
});

export const compensations = new Counter({
  name: 'airlock_compensations_total',
  help: 'Compensations run, by result; failed ones leave a job in compensation_failed',
  labelNames: ['result'] as const,
  registers: [registry],
});

export const callbacks = new Counter({
  name: 'airlock_callbacks_total',
  help: 'Completion callback attempts by result (delivered, failed_attempt, gave_up)',
  labelNames: ['result'] as const,
  registers: [registry],
});

export const notifications = new Counter({
  name: 'airlock_approval_notifications_total',
  help: 'Approval channel notification attempts by channel and result; failures are retried in the background',
  labelNames: ['channel', 'result'] as const,
  registers: [registry],
});

/** Jobs by state, counted from Temporal visibility at scrape time. */
export function jobsByState(count: (status: string) => Promise<number>, statuses: readonly string[]) {
  registry.removeSingleMetric('airlock_jobs'); // one API per process, but tests build several
  return new Gauge({
    name: 'airlock_jobs',
    help: 'Jobs by state (from Temporal visibility)',
    labelNames: ['status'] as const,
    registers: [registry],
    async collect() {
      const counts = await Promise.all(statuses.map(async (s) => [s, await count(s).catch(() => NaN)] as const));
      for (const [status, n] of counts) this.set({ status }, n);
    },
  });
}

/** The activities' and channels' measurements, recorded in this registry (handed over by the composition root). */
export const activityMetrics: ActivityMetrics = {
  policyDecision: (outcome, rule) => policyDecisions.inc({ outcome, rule }),
  compensation: (result) => compensations.inc({ result }),
  approvalClosed: (status, seconds) => approvalWait.observe({ status }, seconds),
  callback: (result) => callbacks.inc({ result }),
  notification: (channel, result) => notifications.inc({ channel, result }),
};
