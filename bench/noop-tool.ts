/** A tool that does nothing, so the benchmark measures governance rather than side effects. */
import { z } from 'zod';
import { defineTool } from '../activities/tool';

/** Milliseconds since the epoch, sub-millisecond: comparable across the bench and its worker process. */
export const clock = () => performance.timeOrigin + performance.now();

/** When each (job, step) started acting, for the approval round-trip figures. */
export const started = new Map<string, number>();
/** Told of each start (the worker process forwards them to the bench). */
export const startListeners: ((key: string, at: number) => void)[] = [];

export function markStarted(key: string) {
  const at = clock();
  started.set(key, at);
  for (const l of startListeners) l(key, at);
}

export const noopTool = defineTool({
  name: 'bench.noop',
  description: 'Does nothing (benchmarks).',
  risk: 'low',
  input: z.strictObject({ i: z.number().int() }),
  output: z.object({ i: z.number() }),
  idempotency: 'Has no effect.',
  async execute(input, ctx) {
    markStarted(ctx.idempotencyKey);
    return { i: input.i };
  },
});

/** The bare baseline's activity: the same no-op without governance. */
export const bareActivities = {
  'bare.noop': async (x: { key?: string }) => {
    if (x.key) markStarted(x.key);
    return x;
  },
};
