/** Runs one activity of the real activity map inside Temporal's activity test environment. */
import { MockActivityEnvironment } from '@temporalio/testing';
import { builtinRegistry } from '../../activities';
import { createActivities } from '../../activities/create-activities';
import type { ToolDeps } from '../../activities/tool';
import type { CompensationCall } from '../../src/core/job';
import { testDeps } from './temporal';

export function activityRunner(deps: Partial<ToolDeps> = {}) {
  // Audit events are covered in test/audit; here they go nowhere.
  const activities = createActivities({
    registry: builtinRegistry(),
    deps: testDeps(deps),
    audit: { append: async () => undefined, appendAll: async () => undefined, signHead: async () => undefined },
  });
  return {
    env: new MockActivityEnvironment(),
    run(
      name: string,
      call: Partial<CompensationCall> & { input: Record<string, unknown> },
      env = new MockActivityEnvironment(),
    ) {
      const jobId = call.jobId ?? 'job-1';
      const stepId = call.stepId ?? 'step';
      return env.run(activities[name], { jobId, stepId, idempotencyKey: `${jobId}/${stepId}`, ...call });
    },
  };
}

export async function failureOf(p: Promise<unknown>) {
  try {
    await p;
  } catch (err) {
    return err as Error & { type?: string; nonRetryable?: boolean; details?: unknown[] };
  }
  throw new Error('expected a failure');
}
