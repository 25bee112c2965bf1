/** `airlock worker` or `airlock serve` in its own OS process: a test can SIGKILL it, or call its API over HTTP. */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

const CLI = join(__dirname, '..', '..', 'bin', 'airlock.js');

export interface WorkerProcess {
  child: ChildProcess;
  /** The API's base URL (`serve` only). */
  url?: string;
  /** SIGKILL the worker and every process it started (its own process group). */
  kill: () => Promise<void>;
  stop: () => Promise<void>;
}

export async function spawnWorker(opts: {
  address: string;
  taskQueue: string;
  identity: string;
  env?: Record<string, string>;
  command?: 'worker' | 'serve';
  /** More arguments for the command (`--role control`). */
  args?: string[];
}) {
  const argv = [CLI, opts.command ?? 'worker', '--identity', opts.identity, ...(opts.args ?? [])];
  const child = spawn(process.execPath, argv, {
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      AIRLOCK_TEMPORAL_ADDRESS: opts.address,
      AIRLOCK_TASK_QUEUE: opts.taskQueue,
      AIRLOCK_LOG_LEVEL: 'error',
      // Tests run with test people files and a generated signing key: the documented opt-in.
      AIRLOCK_ALLOW_DEV_CREDENTIALS: '1',
      ...opts.env,
    },
  });
  let output = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker did not start:\n${output}`)), 60_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('worker ready')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`worker exited with ${code}:\n${output}`));
    });
  });
  const signalGroup = async (signal: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, signal);
    } catch {
      // already gone
    }
    await exited;
  };
  const url = /api listening on (\S+)/.exec(output)?.[1];
  return { child, url, kill: () => signalGroup('SIGKILL'), stop: () => signalGroup('SIGTERM') } satisfies WorkerProcess;
}
