/**
 * Figure 2: approval round trip, from the approval (API decision or signed Slack click) to the approved action
 * starting, one job at a time on the shared stack, vs. a bare workflow's signal → activity.
 */
import { randomUUID } from 'node:crypto';
import { slackSignature } from '../../approvals/slack/verify';
import { jobStateQuery } from '../../workflows/messages';
import { SLACK_SECRET } from '../airlock';
import { approveViaApi, benchJob, type Harness, SIZE, type Stack, startApi, submitBenchJob, waitFor } from '../harness';
import { check, ms, record, rows, sleep, summarize } from '../lib';
import { clock, started } from '../noop-tool';

/** A signed Slack "Approve" click on `request`, as Slack posts it to the API's Slack route. */
function slackClick(base: string, request: { id: string; inputDigest: string }) {
  const payload = {
    type: 'block_actions',
    user: { id: 'U0ALICE01' },
    team: { id: 'T0' },
    api_app_id: 'A0',
    channel: { id: 'C0' },
    trigger_id: 't',
    actions: [
      {
        type: 'button',
        action_id: 'airlock_approve',
        block_id: 'airlock_decision',
        value: JSON.stringify({ requestId: request.id, digest: request.inputDigest }),
        action_ts: '1',
      },
    ],
  };
  const body = `payload=${encodeURIComponent(JSON.stringify(payload))}`;
  const ts = String(Math.floor(Date.now() / 1000));
  return fetch(`${base}/slack/events`, {
    method: 'POST',
    body,
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      'x-slack-request-timestamp': ts,
      'x-slack-signature': slackSignature(SLACK_SECRET, ts, body),
    },
  });
}

/** SIZE.approvals round trips via `via`, in ms from the approval sent to the next activity starting. */
async function approvalRtt(h: Harness, stack: Stack, base: string, via: 'api' | 'slack' | 'bare') {
  const samples: number[] = [];
  for (let i = 0; i < SIZE.approvals; i++) {
    const id = `rtt-${via}-${randomUUID()}`;
    if (via === 'bare') {
      const bare = await stack.env.client.workflow.start('bareApprovalWorkflow', {
        taskQueue: stack.taskQueue,
        workflowId: id,
      });
      await waitFor('bare wait', async () => (await bare.query<boolean>('waiting')) === true);
      const t0 = clock();
      await bare.signal('approve');
      await bare.result();
      samples.push((started.get(`${id}/bare`) ?? NaN) - t0);
      continue;
    }
    const handle = await submitBenchJob(stack.env.client, h.registry, stack.taskQueue, id, benchJob(1, true));
    const request = await (async () => {
      for (;;) {
        const s = await handle.query(jobStateQuery);
        const r = s.approvals.find((a) => a.status === 'pending');
        if (r) return r;
        await sleep(10);
      }
    })();
    const t0 = clock();
    const res =
      via === 'api' ? await approveViaApi(base, request.id, request.inputDigest) : await slackClick(base, request);
    check(res.ok, `approval via ${via} accepted (${res.status})`);
    await waitFor('the approved action to start', () => started.has(`${id}/s0`), 30_000);
    samples.push(started.get(`${id}/s0`)! - t0);
    await handle.result();
  }
  return summarize(samples);
}

/** Figure 2, with Airlock's API (and its Slack route) in this process: records `approvalRoundTrip`. */
export async function approvalRoundTrip(h: Harness) {
  const stack = await h.stack();
  const api = await startApi(stack.env.connection.options.address, stack.taskQueue, h.policy, h.audit);
  try {
    const bareRtt = await approvalRtt(h, stack, api.base, 'bare');
    const apiRtt = await approvalRtt(h, stack, api.base, 'api');
    const slackRtt = await approvalRtt(h, stack, api.base, 'slack');
    record('approvalRoundTrip', { apiMs: apiRtt, slackMs: slackRtt, bareSignalMs: bareRtt });
    for (const [name, s] of [
      ['API', apiRtt],
      ['signed Slack click', slackRtt],
    ] as const) {
      rows.push({
        figure: `2. approval → next activity, ${name}`,
        airlock: `p50 ${ms(s.median)}, p99 ${ms(s.p99)} [${ms(s.min)}–${ms(s.max)}]`,
        baseline: `signal → activity: p50 ${ms(bareRtt.median)}, p99 ${ms(bareRtt.p99)}`,
        ratio: `${(s.p99 / bareRtt.p99).toFixed(2)}× (p99)`,
        target: 'p99 ≤ 250 ms',
        met: s.p99 <= 250,
      });
    }
  } finally {
    await api.close();
  }
}
