/**
 * faults-v1: telling approval channels about requests in the background. A job starts one notifier workflow
 * (`<jobId>:notify`, abandoned when the job ends) at its first request and signals it each change; the notifier tells
 * every channel in order, one queue per channel (a Slack outage does not hold back the others), retrying each for a
 * day. A channel that is down therefore never blocks, times or fails a decision: the request is decidable from every
 * other channel meanwhile, and its audit events are written by the job itself (`approvals.record`).
 */
import {
  CancellationScope,
  condition,
  defineSignal,
  getExternalWorkflowHandle,
  log,
  ParentClosePolicy,
  proxyActivities,
  setHandler,
  startChild,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { ApprovalRequest } from '../src/core/approval';
import type { ApprovalActivities, ApprovalEvent } from '../src/core/contracts';
import { describe, type Notifier } from './context';

interface Notification {
  /** 1, 2, …: signals between workflows may arrive out of order; the notifier tells them in this order. */
  seq: number;
  request: ApprovalRequest;
  event: ApprovalEvent;
}

const notifySignal = defineSignal<[Notification]>('notify');
/** The job ended after `count` notifications. */
const notifyDoneSignal = defineSignal<[{ count: number }]>('notifyDone');

/** Each notification retries for a day (backoff capped at 5 minutes), then is logged as given up. */
const channels = proxyActivities<ApprovalActivities>({
  startToCloseTimeout: '30s',
  scheduleToCloseTimeout: '1 day',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '5m' },
});

/** Tells each channel of each request signalled, in order per channel, until the job is done and all was told. */
export async function approvalNotifierWorkflow(): Promise<void> {
  const queues = new Map<string, Notification[]>();
  const busy = new Set<string>();
  const arrived = new Map<number, Notification>();
  let next = 1;
  let count: number | undefined;
  const drain = async (channel: string, queue: Notification[]) => {
    busy.add(channel);
    try {
      for (let n = queue.shift(); n; n = queue.shift()) {
        try {
          await channels['approvals.notify'](n.request, n.event, channel);
        } catch (err) {
          log.warn(`approval ${n.request.id}: channel ${channel} was not told (${n.event}); gave up after a day`, {
            error: describe(err).message,
          });
        }
      }
    } finally {
      busy.delete(channel);
    }
  };
  const enqueue = (n: Notification) => {
    for (const channel of n.request.channels) {
      let queue = queues.get(channel);
      if (!queue) queues.set(channel, (queue = []));
      const last = queue[queue.length - 1];
      // An update renders the whole request: a newer one replaces an update not yet sent.
      if (n.event === 'update' && last?.event === 'update' && last.request.id === n.request.id) {
        queue[queue.length - 1] = n;
      } else {
        queue.push(n);
      }
      if (!busy.has(channel)) void drain(channel, queue);
    }
  };
  setHandler(notifySignal, (n) => {
    arrived.set(n.seq, n);
    for (let n = arrived.get(next); n; n = arrived.get(next)) {
      arrived.delete(next++);
      enqueue(n);
    }
  });
  setHandler(notifyDoneSignal, (done) => void (count = done.count));
  // A job that vanished without saying it is done (terminated) leaves its notifier 30 days.
  await condition(() => count !== undefined && next > count && busy.size === 0, '30 days');
}

/** Starts the job's notifier (left running when the job ends: it finishes telling the channels). */
export async function startNotifier(jobId: string): Promise<Notifier> {
  const workflowId = `${jobId}:notify`;
  let handle: { signal: ReturnType<typeof getExternalWorkflowHandle>['signal'] };
  try {
    // Outside the job's cancellation: a cancelled job still tells the channels its request closed.
    handle = await CancellationScope.nonCancellable(() =>
      startChild(approvalNotifierWorkflow, { workflowId, parentClosePolicy: ParentClosePolicy.ABANDON }),
    );
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    handle = getExternalWorkflowHandle(workflowId); // a reset job: the notifier it started is still there
  }
  const lost = (err: unknown) =>
    log.warn(`approval notifier ${workflowId} not reached`, { error: describe(err).message });
  let seq = 0;
  return {
    notify(request, event) {
      // A copy: the request changes as votes arrive; the channel is told about it as it was.
      const copy = JSON.parse(JSON.stringify(request)) as ApprovalRequest;
      handle.signal(notifySignal, { seq: ++seq, request: copy, event }).catch(lost);
    },
    async done() {
      await handle.signal(notifyDoneSignal, { count: seq }).catch(lost);
    },
  };
}
