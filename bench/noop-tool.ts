/** A tool that does nothing, so the benchmark measures governance rather than side effects. */
import { z } from 'zod';
import { defineTool } from '../activities/tool';

/** When each (job, step) started acting, for the approval round-trip figure. */
export const started = new Map<string, number>();

export const noopTool = defineTool({
  name: 'bench.noop',
  description: 'Does nothing (benchmarks).',
  risk: 'low',
  input: z.strictObject({ i: z.number().int() }),
  output: z.object({ i: z.number() }),
  idempotency: 'Has no effect.',
  async execute(input, ctx) {
    started.set(ctx.idempotencyKey, performance.now());
    return { i: input.i };
  },
});
