/** Runs `airlock` commands in-process against a test's Temporal server, capturing what they print. */
import { buildCli } from '../../src/cli';
import { loadConfig } from '../../src/config';
import type { TemporalServer } from '../../src/temporal/server';

export interface CliRun {
  stdout: string;
  stderr: string;
  /** process.exitCode as the command left it (0 when it set none); 1 when it threw. */
  exitCode: number;
  error?: Error;
}

/** Runs one command with the test server's address and namespace (plus `env`); never exits the test process. */
export async function runCli(
  env: TemporalServer,
  args: string[],
  extraEnv: Record<string, string> = {},
): Promise<CliRun> {
  const config = () =>
    loadConfig({
      AIRLOCK_TEMPORAL_ADDRESS: env.connection.options.address,
      AIRLOCK_NAMESPACE: env.namespace ?? 'default',
      AIRLOCK_LOG_LEVEL: 'silent',
      ...extraEnv,
    });
  const out: string[] = [];
  const err: string[] = [];
  const log = jest.spyOn(console, 'log').mockImplementation((...a: unknown[]) => void out.push(a.join(' ')));
  const error = jest.spyOn(console, 'error').mockImplementation((...a: unknown[]) => void err.push(a.join(' ')));
  const previous = process.exitCode;
  process.exitCode = undefined;
  let thrown: Error | undefined;
  try {
    await buildCli(config)
      .exitOverride()
      .parseAsync(['node', 'airlock', ...args]);
  } catch (e) {
    thrown = e as Error;
  } finally {
    log.mockRestore();
    error.mockRestore();
  }
  const exitCode = thrown ? ((thrown as { exitCode?: number }).exitCode ?? 1) : Number(process.exitCode ?? 0);
  process.exitCode = previous;
  return { stdout: out.join('\n'), stderr: err.join('\n'), exitCode, ...(thrown ? { error: thrown } : {}) };
}
