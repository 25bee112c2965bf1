/**
 * A real Temporal server on PostgreSQL for trying the production topology locally and for `npm run test:cluster`:
 * the server built from the pinned Go module (tools/temporal-server/go.mod), its `temporal` and
 * `temporal_visibility` databases created and migrated with temporal-sql-tool, SQL visibility, one node.
 * `airlock cluster up|down|status` drive it; the server runs detached with its pid, config and log under
 * `<data dir>/cluster`, so `up` in one shell and `down` in another (or in CI's next step) find the same server.
 */
import { spawn, execFile } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';
import pg from 'pg';
import { stringify } from 'yaml';
import { z } from 'zod';
import { QUEUE_POLL_RATES } from './server';
import { searchAttributeKeys } from '../core/search-attributes';
import { resolveClusterBinary } from './binaries';

const run = promisify(execFile);

/** Cluster settings from the environment; each has a default that works on a developer machine and in CI. */
export const clusterEnvSchema = z.object({
  /** PostgreSQL the server keeps its state in: a role that may create databases, without a database name. */
  AIRLOCK_CLUSTER_POSTGRES_URL: z.url().default('postgres://postgres:postgres@127.0.0.1:5432'),
  /** The frontend's gRPC port; the other services take the next four (7233 stays free for `airlock dev`). */
  AIRLOCK_CLUSTER_PORT: z.coerce.number().int().min(1024).max(65000).default(7243),
});

export interface ClusterOptions {
  postgresUrl: string;
  port: number;
  /** Config, pid file and log. */
  dir: string;
  namespace: string;
  /** How long closed workflows stay in visibility (`temporal operator namespace create`'s default: 72h). */
  retentionHours?: number;
  /** Prefixes the server's two database names (default none): a throw-away cluster beside the usual one (bench). */
  databasePrefix?: string;
}

/** Reads the cluster settings; a bad value names its variable. */
export function clusterOptions(
  dataDir: string,
  namespace: string,
  env: NodeJS.ProcessEnv = process.env,
): ClusterOptions {
  const parsed = clusterEnvSchema.safeParse(env);
  if (!parsed.success)
    throw new Error(
      `invalid cluster configuration:\n${parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`).join('\n')}`,
    );
  const c = parsed.data;
  return {
    postgresUrl: c.AIRLOCK_CLUSTER_POSTGRES_URL,
    port: c.AIRLOCK_CLUSTER_PORT,
    dir: join(dataDir, 'cluster'),
    namespace,
  };
}

/** The server's two databases and their schemas (embedded in temporal-sql-tool: no schema files to ship). */
const databases = (o: ClusterOptions) =>
  [
    { name: `${o.databasePrefix ?? ''}temporal`, schema: 'temporal' },
    { name: `${o.databasePrefix ?? ''}temporal_visibility`, schema: 'visibility' },
  ] as const;

const address = (o: ClusterOptions) => `127.0.0.1:${o.port}`;
const pidFile = (o: ClusterOptions) => join(o.dir, 'server.pid');
export const clusterLogFile = (o: ClusterOptions) => join(o.dir, 'server.log');

/**
 * Creates both databases when missing and migrates them to the schema version this server ships. Idempotent:
 * `setup-schema -v 0.0` only creates the version tables (and leaves a newer version alone); `update-schema` applies
 * only the versions newer than the database's.
 */
export async function migrateCluster(o: ClusterOptions, log: (msg: string) => void = () => undefined): Promise<void> {
  const tool = resolveClusterBinary('sql-tool');
  const url = new URL(o.postgresUrl);
  const common = [
    '--plugin',
    'postgres12',
    '--ep',
    url.hostname,
    '-p',
    url.port || '5432',
    '-u',
    decodeURIComponent(url.username),
  ];
  // The password goes in the tool's environment, not on its command line (where `ps` shows it).
  const env = { ...process.env, SQL_PASSWORD: decodeURIComponent(url.password) };
  for (const db of databases(o)) {
    const admin = new pg.Client({ connectionString: withDatabase(o.postgresUrl, 'postgres') });
    await admin.connect();
    try {
      const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [db.name]);
      if (!exists.rowCount) {
        log(`creating database ${db.name}`);
        await run(tool, [...common, '--db', db.name, 'create-database'], { env });
      }
    } finally {
      await admin.end();
    }
    const schema = `postgresql/v12/${db.schema}`;
    await run(tool, [...common, '--db', db.name, 'setup-schema', '-v', '0.0'], { env });
    await run(tool, [...common, '--db', db.name, 'update-schema', '--schema-name', schema], { env });
    log(`database ${db.name}: migrated`);
  }
}

/** Drops the server's two databases (a throw-away cluster's, once it is down). */
export async function dropClusterDatabases(o: ClusterOptions): Promise<void> {
  const admin = new pg.Client({ connectionString: withDatabase(o.postgresUrl, 'postgres') });
  await admin.connect();
  try {
    for (const db of databases(o)) await admin.query(`DROP DATABASE IF EXISTS "${db.name}" WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}

function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

/** The server's static config: PostgreSQL persistence and SQL visibility, one node on loopback. */
export function serverConfig(o: ClusterOptions): Record<string, unknown> {
  const url = new URL(o.postgresUrl);
  const sql = (databaseName: string, maxConns: number) => ({
    sql: {
      pluginName: 'postgres12',
      databaseName,
      connectAddr: `${url.hostname}:${url.port || '5432'}`,
      connectProtocol: 'tcp',
      user: decodeURIComponent(url.username),
      password: decodeURIComponent(url.password),
      maxConns,
      maxIdleConns: maxConns,
      maxConnLifetime: '1h',
    },
  });
  const p = o.port;
  // Ports: frontend gRPC p, its HTTP API p+4; the internal services p+1..p+3; membership (ringpop) p-300..p-297.
  const service = (grpcPort: number, membershipPort: number, extra: Record<string, unknown> = {}) => ({
    rpc: { grpcPort, membershipPort, bindOnLocalHost: true, ...extra },
  });
  return {
    log: { stdout: true, level: 'warn' },
    persistence: {
      defaultStore: 'postgres-default',
      visibilityStore: 'postgres-visibility',
      numHistoryShards: 4,
      datastores: {
        'postgres-default': sql(databases(o)[0].name, 20),
        'postgres-visibility': sql(databases(o)[1].name, 5),
      },
    },
    global: { membership: { maxJoinDuration: '30s', broadcastAddress: '127.0.0.1' } },
    services: {
      frontend: service(p, p - 300, { httpPort: p + 4 }),
      history: service(p + 1, p - 299),
      matching: service(p + 2, p - 298),
      worker: service(p + 3, p - 297),
    },
    clusterMetadata: {
      enableGlobalNamespace: false,
      failoverVersionIncrement: 10,
      masterClusterName: 'active',
      currentClusterName: 'active',
      clusterInformation: {
        active: { enabled: true, initialFailoverVersion: 1, rpcName: 'frontend', rpcAddress: address(o) },
      },
    },
    dcRedirectionPolicy: { policy: 'noop' },
    dynamicConfigClient: { filepath: join(o.dir, 'dynamicconfig.yaml'), pollInterval: '10s' },
  };
}

/** Knobs for a one-node cluster that tests drive: new namespaces and search attributes usable at once. */
const DYNAMIC_CONFIG = {
  'system.forceSearchAttributesCacheRefreshOnRead': [{ value: true, constraints: {} }],
  'system.namespaceCacheRefreshInterval': [{ value: '1s', constraints: {} }],
  'frontend.enableUpdateWorkflowExecution': [{ value: true, constraints: {} }],
  // As on the dev server: task-queue reads not held to 20/s per shard (a 50 ms wait before each workflow task).
  ...Object.fromEntries(QUEUE_POLL_RATES.map(([key, rate]) => [key, [{ value: rate, constraints: {} }]])),
};

function readPid(o: ClusterOptions): number | undefined {
  try {
    const pid = Number(readFileSync(pidFile(o), 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** True when the frontend answers. */
async function serving(o: ClusterOptions): Promise<boolean> {
  let connection: Connection | undefined;
  try {
    connection = await Connection.connect({ address: address(o), connectTimeout: 1000 });
    await connection.workflowService.getSystemInfo({});
    return true;
  } catch {
    return false;
  } finally {
    await connection?.close().catch(() => undefined);
  }
}

export interface ClusterStatus {
  address: string;
  namespace: string;
  /** The server process's id when it is running. */
  pid?: number;
  serving: boolean;
  log: string;
}

export async function clusterStatus(o: ClusterOptions): Promise<ClusterStatus> {
  const pid = readPid(o);
  return {
    address: address(o),
    namespace: o.namespace,
    pid: pid !== undefined && alive(pid) ? pid : undefined,
    serving: await serving(o),
    log: clusterLogFile(o),
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Migrates, starts the server detached (unless it already runs), waits until it answers, then makes sure the
 * namespace and Airlock's search attributes exist. Safe to call again: every step checks first.
 */
export async function clusterUp(
  o: ClusterOptions,
  log: (msg: string) => void = () => undefined,
  timeoutMs = 120_000,
): Promise<ClusterStatus> {
  mkdirSync(o.dir, { recursive: true });
  const before = await clusterStatus(o);
  if (!before.pid && before.serving)
    throw new Error(`something else already listens on ${before.address}: stop it or set AIRLOCK_CLUSTER_PORT`);
  if (!before.pid) {
    await migrateCluster(o, log);
    const configFile = join(o.dir, 'config.yaml');
    writeFileSync(configFile, stringify(serverConfig(o)));
    writeFileSync(join(o.dir, 'dynamicconfig.yaml'), stringify(DYNAMIC_CONFIG));
    const server = resolveClusterBinary('server');
    const out = openSync(clusterLogFile(o), 'a');
    const child = spawn(server, ['--config-file', configFile, '--allow-no-auth', 'start'], {
      detached: true,
      stdio: ['ignore', out, out],
      cwd: o.dir,
    });
    closeSync(out);
    child.unref();
    writeFileSync(pidFile(o), String(child.pid));
    log(`temporal-server started (pid ${child.pid}), log in ${clusterLogFile(o)}`);
  }
  const deadline = Date.now() + timeoutMs;
  while (!(await serving(o))) {
    const pid = readPid(o);
    if (pid === undefined || !alive(pid)) throw new Error(`temporal-server exited; see ${clusterLogFile(o)}`);
    if (Date.now() > deadline)
      throw new Error(`temporal-server did not answer within ${timeoutMs} ms; see ${clusterLogFile(o)}`);
    await sleep(500);
  }
  await ensureNamespace(address(o), o.namespace, {
    retentionHours: o.retentionHours,
    timeoutMs: deadline - Date.now(),
  });
  return clusterStatus(o);
}

/**
 * Registers the namespace and Airlock's search attributes where missing, waiting until the namespace is usable. Used
 * by `cluster up` and, on a production cluster, by `airlock cluster init-namespace` (docker-compose.yml runs it once).
 */
export async function ensureNamespace(
  address: string,
  namespace: string,
  opts: { retentionHours?: number; timeoutMs?: number } = {},
): Promise<void> {
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  const connection = await Connection.connect({ address });
  try {
    try {
      await connection.workflowService.registerNamespace({
        namespace,
        workflowExecutionRetentionPeriod: msToTs((opts.retentionHours ?? 72) * 3_600_000),
      });
    } catch (err) {
      if ((err as { code?: number }).code !== 6) throw err; // 6 = ALREADY_EXISTS
    }
    // The frontend learns of a new namespace on its next cache refresh.
    for (;;) {
      try {
        await connection.operatorService.listSearchAttributes({ namespace });
        await connection.workflowService.countWorkflowExecutions({ namespace });
        break;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await sleep(500);
      }
    }
    const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
    const missing = searchAttributeKeys.filter((k) => !customAttributes?.[k.name]);
    if (missing.length) {
      await connection.operatorService.addSearchAttributes({
        namespace,
        searchAttributes: Object.fromEntries(missing.map((k) => [k.name, INDEXED_TYPE[k.type]])),
      });
    }
  } finally {
    await connection.close();
  }
}

const INDEXED_TYPE = {
  KEYWORD: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
} as const satisfies Partial<Record<(typeof searchAttributeKeys)[number]['type'], number>>;

/** Stops the server (SIGTERM, then SIGKILL after `graceMs`); a no-op when it is not running. */
export async function clusterDown(o: ClusterOptions, graceMs = 20_000): Promise<boolean> {
  const pid = readPid(o);
  if (pid === undefined || !alive(pid)) {
    rmSync(pidFile(o), { force: true });
    return false;
  }
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (alive(pid) && Date.now() < deadline) await sleep(200);
  if (alive(pid)) process.kill(pid, 'SIGKILL');
  while (alive(pid)) await sleep(100);
  rmSync(pidFile(o), { force: true });
  return true;
}
