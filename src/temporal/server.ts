/**
 * Starts a real Temporal server for the embedded stack and the tests: the Temporal CLI dev server (SQLite) or the
 * time-skipping test server, through @temporalio/testing with the binary found by resolveTemporalBinary.
 */
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { searchAttributeKeys } from '../core/search-attributes';
import { installHint, resolveTemporalBinary } from './binaries';

export interface DevServerOptions {
  /** SQLite file; omitted = in memory. */
  dbFilename?: string;
  port?: number;
  /** Serve the Temporal UI on this port. */
  uiPort?: number;
  namespace?: string;
  /** Register Airlock's search attributes (default true; false: a server as a bare cluster is, for tests). */
  searchAttributes?: boolean;
  /** Extra `temporal server start-dev` flags (e.g. `--sqlite-pragma`). */
  extraArgs?: string[];
}

async function withHint<T>(kind: 'cli' | 'test-server', source: string, start: () => Promise<T>): Promise<T> {
  try {
    return await start();
  } catch (err) {
    if (source === 'download') throw new Error(`${installHint(kind)}\n(download failed: ${(err as Error).message})`);
    throw err;
  }
}

/** A Temporal CLI dev server with Airlock's search attributes registered. Call `teardown()` to stop it. */
export function startDevServer(opts: DevServerOptions = {}): Promise<TestWorkflowEnvironment> {
  const { executable, source } = resolveTemporalBinary('cli');
  return withHint('cli', source, () =>
    TestWorkflowEnvironment.createLocal({
      server: {
        executable,
        dbFilename: opts.dbFilename,
        port: opts.port,
        ui: opts.uiPort !== undefined,
        uiPort: opts.uiPort,
        namespace: opts.namespace,
        searchAttributes: opts.searchAttributes === false ? [] : searchAttributeKeys,
        extraArgs: opts.extraArgs,
        log: { format: 'pretty', level: 'warn' },
      },
    }),
  );
}

/** The time-skipping test server: timers fire as soon as every workflow is waiting. */
export function startTimeSkippingServer(): Promise<TestWorkflowEnvironment> {
  const { executable, source } = resolveTemporalBinary('test-server');
  return withHint('test-server', source, () => TestWorkflowEnvironment.createTimeSkipping({ server: { executable } }));
}
