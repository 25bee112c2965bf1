/** The baselines: bare Temporal workflows with no governance at all. */
import {
  condition,
  defineQuery,
  defineSignal,
  defineUpdate,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';

const { 'bare.noop': noop } = proxyActivities<{ 'bare.noop': (x: { i?: number; key?: string }) => Promise<unknown> }>({
  startToCloseTimeout: '1m',
});

/** N no-op activities in order. */
export async function bareWorkflow(steps: number): Promise<number> {
  for (let i = 0; i < steps; i++) await noop({ i });
  return steps;
}

export const approveSignal = defineSignal('approve');
export const waitingQuery = defineQuery<boolean>('waiting');

/** Waits for a signal, then runs one no-op activity: the bare shape of "approval, then act". */
export async function bareApprovalWorkflow(): Promise<void> {
  let approved = false;
  setHandler(approveSignal, () => void (approved = true));
  setHandler(waitingQuery, () => !approved);
  await condition(() => approved);
  await noop({ key: `${workflowInfo().workflowId}/bare` });
}

export const bareCallUpdate = defineUpdate<unknown, [{ i: number }]>('bareCall');

/**
 * The bare shape of an MCP session: each call an update that runs one no-op activity and answers its result. The
 * floor under a governed call (Temporal's update round trip plus an activity dispatch), without policy or audit.
 */
export async function bareSessionWorkflow(): Promise<void> {
  setHandler(bareCallUpdate, async ({ i }) => noop({ i }));
  await condition(() => false);
}
