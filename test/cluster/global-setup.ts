/**
 * `npm run test:cluster`: the tests' PostgreSQL (test/global-setup.ts), then the Temporal cluster on it. A cluster
 * that already runs (`airlock cluster up` by hand) is used and left running; one started here is stopped in
 * global-teardown.ts.
 */
import baseSetup from '../global-setup';
import { clusterStatus, clusterUp } from '../../src/temporal/cluster';
import { testClusterOptions } from './cluster';

export default async function globalSetup(): Promise<void> {
  await baseSetup();
  const o = testClusterOptions();
  const before = await clusterStatus(o);
  const started = Date.now();
  await clusterUp(o);
  (globalThis as { airlockClusterStartedHere?: boolean }).airlockClusterStartedHere = !before.pid;
  if (!before.pid) console.log(`\ntemporal cluster up at ${before.address} in ${Date.now() - started} ms`);
}
