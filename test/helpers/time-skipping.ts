/**
 * The time-skipping test server (timers fire as soon as every workflow is waiting), through @temporalio/testing —
 * a devDependency, so this lives with the tests, not in src/.
 */
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { installHint, resolveTemporalBinary } from '../../src/temporal/binaries';

export async function startTimeSkippingServer(): Promise<TestWorkflowEnvironment> {
  const { executable, source } = resolveTemporalBinary('test-server');
  try {
    return await TestWorkflowEnvironment.createTimeSkipping({ server: { executable } });
  } catch (err) {
    if (source === 'download')
      throw new Error(`${installHint('test-server')}\n(download failed: ${(err as Error).message})`);
    throw err;
  }
}
