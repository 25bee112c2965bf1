/**
 * The cluster tests' server: the real Temporal server on PostgreSQL that test/cluster/global-setup.ts brings up
 * (`airlock cluster up`), shared by every file of `npm run test:cluster` (files run one at a time).
 */
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { loadConfig } from '../../src/config';
import { clusterOptions, type ClusterOptions } from '../../src/temporal/cluster';
import { useTemporalServer } from '../helpers/temporal';

/** The cluster's settings, from the same environment `airlock cluster up` reads. */
export function testClusterOptions(): ClusterOptions {
  const config = loadConfig({ ...process.env, AIRLOCK_LOG_LEVEL: 'silent' });
  return clusterOptions(config.dataDir, config.temporal.namespace);
}

export const clusterAddress = () => `127.0.0.1:${testClusterOptions().port}`;

/** Like useTemporalServer, on the running cluster instead of a dev server per file. */
export function useCluster() {
  const o = testClusterOptions();
  return useTemporalServer(() =>
    TestWorkflowEnvironment.createFromExistingServer({ address: `127.0.0.1:${o.port}`, namespace: o.namespace }),
  );
}
