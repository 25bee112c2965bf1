/**
 * Starts the Temporal CLI dev server (`temporal server start-dev`, SQLite) for the embedded stack, the demo, the
 * benchmark and the tests: the binary found by resolveTemporalBinary, spawned as our own child process, ready once
 * its frontend answers for our namespace with Airlock's search attributes registered.
 *
 * What it starts it stops: the child is killed when anything after spawning fails, on `teardown()`, and when this
 * process exits. A port that is already taken is an error naming the port — never a reason to attach to whatever
 * listens there.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { connect, createServer } from 'node:net';
import { Client, Connection } from '@temporalio/client';
import type { SearchAttributeType } from '@temporalio/common';
import { NativeConnection } from '@temporalio/worker';
import { searchAttributeKeys } from '../core/search-attributes';
import { installHint, resolveTemporalBinary } from './binaries';

/** What callers use of a running Temporal server (the dev server here; the time-skipping server in tests). */
export interface TemporalServer {
  /** Client bound to the server's namespace. */
  readonly client: Client;
  /** The client's gRPC connection; `connection.options.address` is the frontend address. */
  readonly connection: Connection;
  /** The connection for workers. */
  readonly nativeConnection: NativeConnection;
  readonly namespace?: string;
  /** Closes the connections and stops the server. Idempotent. */
  teardown(): Promise<void>;
}

export interface DevServer extends TemporalServer {
  readonly namespace: string;
  /** `127.0.0.1:<port>`. */
  readonly address: string;
  /** The server's process id (for tests that check it is gone). */
  readonly pid: number;
}

export interface DevServerOptions {
  /** SQLite file; omitted = in memory. */
  dbFilename?: string;
  /** Frontend gRPC port; omitted = a free port. */
  port?: number;
  /** Serve the Temporal UI on this port; omitted = headless. */
  uiPort?: number;
  namespace?: string;
  /** Register Airlock's search attributes (default true; false: a server as a bare cluster is, for tests). */
  searchAttributes?: boolean;
  /** Extra `temporal server start-dev` flags (e.g. `--sqlite-pragma`). */
  extraArgs?: string[];
  /** The `temporal` executable; default: resolveTemporalBinary('cli'). */
  executable?: string;
  /** How long the server may take to answer (default 60 s). */
  startTimeoutMs?: number;
}

const HOST = '127.0.0.1';

/** A port that something already listens on. */
export class PortInUseError extends Error {
  constructor(
    readonly port: number,
    what: string,
  ) {
    super(
      `port ${port} on ${HOST} (${what}) is already in use — is another Airlock or Temporal server running? ` +
        `Stop it, or choose another port.`,
    );
    this.name = 'PortInUseError';
  }
}

const METADATA_TYPE: Record<SearchAttributeType, string> = {
  TEXT: 'Text',
  KEYWORD: 'Keyword',
  INT: 'Int',
  DOUBLE: 'Double',
  BOOL: 'Bool',
  DATETIME: 'Datetime',
  KEYWORD_LIST: 'KeywordList',
};

/** History task-queue read rates per shard (Temporal's default is 20/s; see devServerArgs), shared with the cluster. */
export const QUEUE_POLL_RATES: [key: string, perSecond: number][] = [
  ['history.transferProcessorMaxPollRPS', 1000],
  ['history.timerProcessorMaxPollRPS', 1000],
  ['history.visibilityProcessorMaxPollRPS', 1000],
  ['history.outboundProcessorMaxPollRPS', 1000],
];

/** The `temporal` arguments for these options (exported for the tests). */
export function devServerArgs(opts: DevServerOptions & { port: number; namespace: string }): string[] {
  return [
    'server',
    'start-dev',
    '--ip',
    HOST,
    '--port',
    String(opts.port),
    ...(opts.uiPort !== undefined ? ['--ui-port', String(opts.uiPort)] : ['--headless']),
    ...(opts.dbFilename ? ['--db-filename', opts.dbFilename] : []),
    '--namespace',
    opts.namespace,
    ...(opts.searchAttributes === false
      ? []
      : searchAttributeKeys.flatMap((k) => ['--search-attribute', `${k.name}=${METADATA_TYPE[k.type]}`])),
    '--log-format',
    'pretty',
    '--log-level',
    'warn',
    // As the Temporal SDK's launcher did: no version check call home; workflow updates on (the freeze control).
    '--dynamic-config-value',
    'frontend.enableServerVersionCheck=false',
    '--dynamic-config-value',
    'frontend.enableUpdateWorkflowExecution=true',
    '--dynamic-config-value',
    'frontend.enableUpdateWorkflowExecutionAsyncAccepted=true',
    // The history service reads its task queues at most 20 times a second per shard by default, and the dev server
    // has one shard: every workflow task after an activity, signal or timer then waits for the next 50 ms slot
    // (measured: a bare update running one activity took 50 ms at p50, 17-20 ms with this). Reads happen only when
    // there are new tasks, so a higher cap costs nothing when idle.
    ...QUEUE_POLL_RATES.flatMap(([key, rate]) => ['--dynamic-config-value', `${key}=${rate}`]),
    ...(opts.extraArgs ?? []),
  ];
}

/** Resolves when `port` can be bound on 127.0.0.1 (then released); rejects with PortInUseError otherwise. */
function assertPortFree(port: number, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (err: NodeJS.ErrnoException) =>
      reject(err.code === 'EADDRINUSE' ? new PortInUseError(port, what) : err),
    );
    probe.listen({ port, host: HOST, exclusive: true }, () => probe.close(() => resolve()));
  });
}

/** A port that is free now (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen({ port: 0, host: HOST, exclusive: true }, () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Stops the child and resolves once it has exited. An in-memory server is killed (nothing to keep); one on a SQLite
 * file gets SIGTERM to stop gracefully, and SIGKILL if it has not exited within `graceMs`.
 */
function stopChild(child: ChildProcess, graceful: boolean, graceMs = 5_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return Promise.resolve();
  child.ref(); // wait for its exit
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceful ? graceMs : 0);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    if (graceful) child.kill('SIGTERM');
  });
}

/** Resolves true once something accepts TCP connections on HOST:port (within `ms`), false otherwise. */
function accepts(port: number, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: HOST });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(ms, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** A Temporal CLI dev server with Airlock's search attributes registered. Call `teardown()` to stop it. */
export async function startDevServer(opts: DevServerOptions = {}): Promise<DevServer> {
  let executable = opts.executable;
  if (!executable) {
    const resolved = resolveTemporalBinary('cli');
    // The SDK's download is a @temporalio/testing feature; production runs a binary it can name.
    if (resolved.executable.type !== 'existing-path') throw new Error(installHint('cli'));
    executable = resolved.executable.path;
  }
  const namespace = opts.namespace ?? 'default';
  let port: number;
  if (opts.port !== undefined) {
    port = opts.port;
    await assertPortFree(port, 'Temporal frontend');
  } else {
    port = await freePort();
  }
  if (opts.uiPort !== undefined) await assertPortFree(opts.uiPort, 'Temporal UI');
  const address = `${HOST}:${port}`;

  const child = spawn(executable, devServerArgs({ ...opts, port, namespace }), {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);

  // stderr goes on to ours (warnings), and its tail explains a failed start.
  let tail = '';
  let stopping = false;
  child.stderr?.on('data', (chunk: Buffer) => {
    // What a server says while we stop it is noise (pollers losing their connection).
    if (!stopping) process.stderr.write(chunk);
    tail = (tail + chunk.toString()).slice(-2_000);
  });

  let exited: string | undefined;
  const exit = new Promise<void>((resolve) => {
    child.once('error', (err) => {
      exited = `could not run ${executable}: ${err.message}`;
      resolve();
    });
    child.once('exit', (code, signal) => {
      exited = `${executable} exited (${signal ?? `code ${code}`}) before it answered`;
      resolve();
    });
  });

  let connection: Connection | undefined;
  let nativeConnection: NativeConnection | undefined;
  const closeConnections = async () => {
    await connection?.close().catch(() => undefined);
    await nativeConnection?.close().catch(() => undefined);
  };

  try {
    const deadline = Date.now() + (opts.startTimeoutMs ?? 60_000);
    let lastError: unknown;
    for (;;) {
      if (exited !== undefined) {
        const detail = tail.trim() ? `:\n${tail.trim()}` : '';
        if (/address already in use/i.test(tail)) throw new PortInUseError(port, `Temporal, found by ${executable}`);
        throw new Error(`${exited}${detail}`);
      }
      if (Date.now() > deadline) {
        throw new Error(
          `Temporal dev server on ${address} did not answer within ${opts.startTimeoutMs ?? 60_000} ms` +
            (lastError instanceof Error ? ` (last error: ${lastError.message})` : ''),
        );
      }
      try {
        // A cheap TCP probe first: a gRPC connect to a port nobody listens on yet backs off for a second.
        if (!connection && !(await accepts(port, 1_000))) throw new Error(`nothing listens on ${address} yet`);
        connection ??= await Connection.connect({ address, connectTimeout: 2_000 });
        const c = connection;
        const { customAttributes } = await c.withDeadline(Date.now() + 2_000, async () => {
          await c.workflowService.describeNamespace({ namespace });
          return c.operatorService.listSearchAttributes({ namespace });
        });
        const expected = opts.searchAttributes === false ? [] : searchAttributeKeys;
        const missing = expected.filter((k) => !customAttributes?.[k.name]);
        if (missing.length === 0) break;
        lastError = new Error(`search attributes not registered yet: ${missing.map((k) => k.name).join(', ')}`);
      } catch (err) {
        lastError = err;
      }
      await Promise.race([sleep(50), exit]);
    }
    nativeConnection = await NativeConnection.connect({ address });
    // Once up, the server does not keep this process alive by itself (as with the SDK's launcher), and dies with it
    // (the 'exit' hook above).
    child.unref();
    (child.stderr as unknown as { unref?: () => void } | null)?.unref?.();
  } catch (err) {
    stopping = true;
    await closeConnections();
    await stopChild(child, false);
    process.removeListener('exit', killOnExit);
    throw err;
  }

  const client = new Client({ connection, namespace });
  let stopped: Promise<void> | undefined;
  return {
    client,
    connection,
    nativeConnection,
    namespace,
    address,
    pid: child.pid!,
    teardown: () =>
      (stopped ??= (async () => {
        stopping = true;
        await closeConnections();
        await stopChild(child, opts.dbFilename !== undefined);
        process.removeListener('exit', killOnExit);
      })()),
  };
}
