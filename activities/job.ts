/**
 * A job's first and last activities: the audit events that open and close its trail (the last one signs the chain
 * head), and the optional completion callback, POSTed with an HMAC-SHA256 signature and retried with backoff.
 */
import { createHmac } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import { AuditEventType, callbackTrailId, type AuditEventInput, type AuditSink } from '../src/core/audit';
import type { JobActivities, RepairActivities } from '../src/core/contracts';
import type { OutboundPolicy } from '../src/core/hosts';
import { finishedEvent, submittedEvent, type CallbackStatus, type JobInput, type JobOutcome } from '../src/core/job';
import { FailureType } from '../src/core/failures';
import { noMetrics, type ActivityMetrics } from '../src/core/metrics';
import { outboundFetch, refusalOf } from './http/outbound';

export interface JobActivityDeps {
  audit: AuditSink;
  /** Where callbacks may go: the same checks as `http.request`, with the callback host list. */
  outbound: OutboundPolicy;
  /** Key of the callback signature; callbacks are refused without one. */
  callbackSecret?: string;
  metrics?: ActivityMetrics;
}

/** `X-Airlock-Signature: sha256=<hex>` over `<timestamp>.<body>`, as receivers verify it. */
export function signCallback(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

export function createJobActivities({
  audit,
  outbound,
  callbackSecret,
  metrics = noMetrics,
}: JobActivityDeps): JobActivities & RepairActivities {
  /** One signed POST of the outcome; throws when it was not taken (retried unless the refusal is permanent). */
  const post = async (url: string, outcome: JobOutcome) => {
    if (!callbackSecret) {
      // Retried: another worker, or this one once configured, can deliver it; the job does not wait for it.
      throw ApplicationFailure.create({
        type: FailureType.CallbackNotConfigured,
        message: 'AIRLOCK_CALLBACK_SECRET is not set on the worker',
      });
    }
    const body = JSON.stringify(outcome);
    const timestamp = String(Math.floor(Date.now() / 1000));
    let res: Awaited<ReturnType<typeof outboundFetch>>['response'];
    try {
      // No redirects: a signed POST that turns into a GET would look delivered and not be.
      const sent = await outboundFetch(
        new URL(url),
        {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'x-airlock-timestamp': timestamp,
            'x-airlock-signature': signCallback(callbackSecret, timestamp, body),
            'idempotency-key': `${outcome.jobId}/callback`,
          },
          body,
          signal: AbortSignal.timeout(10_000),
        },
        outbound,
      );
      res = sent.response;
      await res.body?.cancel();
      sent.close();
    } catch (err) {
      const refused = refusalOf(err);
      if (!refused) throw err;
      throw ApplicationFailure.create({ type: 'CallbackRefused', nonRetryable: true, message: refused.message });
    }
    if (!res.ok) {
      // Retried with backoff by the workflow's policy; a receiver that is down for a while still gets it.
      throw ApplicationFailure.create({
        type: 'CallbackFailed',
        message: `callback to ${new URL(url).host} answered ${res.status}`,
      });
    }
  };

  return {
    async 'job.started'(jobId: string, job: Omit<JobInput, 'compensationOptions'>): Promise<void> {
      await audit.append(submittedEvent(jobId, job));
    },

    async 'repair.record'(event: AuditEventInput): Promise<void> {
      await audit.append(event);
    },

    async 'job.finished'(outcome: JobOutcome, requestId?: string, opening?: AuditEventInput): Promise<void> {
      // The last event and the head's signature in one write (with the submission, if no action of the job wrote it:
      // GENERATION_2; written already, it is answered as stored).
      const finished = finishedEvent(outcome, requestId);
      const written = (await audit.appendAll([...(opening ? [opening] : []), finished], { seal: true })) as
        { key: string; data: Record<string, unknown> }[] | undefined;
      // The job's last action closed the trail as it succeeded, and then the job did not hear of it (its activity
      // timed out with no attempt left, after writing): the trail says succeeded; the end the job reached is kept
      // beside it, where what happened after the seal is.
      const stored = written?.find((e) => e?.key === finished.key);
      if (stored && stored.data.status !== outcome.status)
        await audit.recordOutsideTrail?.({ ...finished, key: 'finished:actual' });
    },

    async 'job.callback'(url: string, outcome: JobOutcome): Promise<void> {
      try {
        await post(url, outcome);
      } catch (err) {
        metrics.callback('failed_attempt');
        throw err;
      }
      metrics.callback('delivered');
    },

    async 'job.callbackFailed'(url: string, outcome: JobOutcome, status: CallbackStatus): Promise<void> {
      // The job's own trail is sealed: the give-up goes into the job's callback trail.
      await audit.append({
        jobId: callbackTrailId(outcome.jobId),
        key: 'callback.failed',
        type: AuditEventType.CallbackFailed,
        data: { jobId: outcome.jobId, host: new URL(url).host, jobStatus: outcome.status, ...status },
      });
      metrics.callback('gave_up');
    },
  };
}
