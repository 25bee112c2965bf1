/**
 * faults-v1: delivering a job's completion callback, in a workflow of its own (`<jobId>:callback`), started by the job
 * as it ends and abandoned by it (ParentClosePolicy ABANDON). The job's end state is final before anyone is called:
 * a receiver that is down, or a worker without the callback secret, delays the delivery, never undoes the job.
 */
import { ApplicationFailure, proxyActivities, setHandler, sleep, ActivityFailure } from '@temporalio/workflow';
import type { JobActivities } from '../src/core/contracts';
import type { CallbackStatus, JobOutcome } from '../src/core/job';
import { callbackStatusQuery } from './messages';
import { describe, now } from './context';

/** Keep trying for this long (receivers down for a day or two still get it), then give up visibly. */
export const CALLBACK_GIVE_UP_MS = 3 * 24 * 3600_000;
const FIRST_BACKOFF_MS = 5_000;
const MAX_BACKOFF_MS = 3600_000;

/** One POST per attempt: the workflow does the retrying, so the query shows each attempt and the next. */
const deliver = proxyActivities<JobActivities>({ startToCloseTimeout: '30s', retry: { maximumAttempts: 1 } });
/** Recording the give-up is an audit write: retried until it lands. */
const report = proxyActivities<JobActivities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', maximumInterval: '1m' },
});

export interface CallbackDelivery {
  url: string;
  outcome: JobOutcome;
  /** Default CALLBACK_GIVE_UP_MS. */
  giveUpAfterMs?: number;
}

/** POSTs the outcome until the receiver takes it, a refusal is permanent, or CALLBACK_GIVE_UP_MS passed. */
export async function callbackWorkflow({ url, outcome, giveUpAfterMs }: CallbackDelivery): Promise<CallbackStatus> {
  const status: CallbackStatus = { state: 'delivering', attempts: 0 };
  setHandler(callbackStatusQuery, () => status);
  const giveUpAt = Date.now() + (giveUpAfterMs ?? CALLBACK_GIVE_UP_MS);
  for (let backoff = FIRST_BACKOFF_MS; ; backoff = Math.min(backoff * 2, MAX_BACKOFF_MS)) {
    status.attempts++;
    try {
      await deliver['job.callback'](url, outcome);
      status.state = 'delivered';
      status.deliveredAt = now();
      delete status.nextAttemptAt;
      return status;
    } catch (err) {
      status.lastError = describe(err);
      const cause = err instanceof ActivityFailure ? err.cause : err;
      const permanent = cause instanceof ApplicationFailure && cause.nonRetryable;
      if (permanent || Date.now() + backoff > giveUpAt) {
        status.state = 'failed';
        status.gaveUpAt = now();
        delete status.nextAttemptAt;
        await report['job.callbackFailed'](url, outcome, status);
        return status;
      }
      status.nextAttemptAt = new Date(Date.now() + backoff).toISOString();
      await sleep(backoff);
    }
  }
}
