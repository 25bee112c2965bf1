/** Stops the cluster when global-setup.ts started it. */
import { clusterDown } from '../../src/temporal/cluster';
import { testClusterOptions } from './cluster';

export default async function globalTeardown(): Promise<void> {
  if ((globalThis as { airlockClusterStartedHere?: boolean }).airlockClusterStartedHere)
    await clusterDown(testClusterOptions());
}
