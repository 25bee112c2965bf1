/**
 * docker-compose.yml agrees with the code: its Airlock services run real CLI commands and options, each gets every
 * variable production needs for its role (src/config.ts productionVariables) and only variables the config knows,
 * the config they add up to loads and starts its worker role, secrets come from env files only, and the Temporal
 * image is the version tools/temporal-server pins. (.ci/run also validates the file with docker-compose itself.)
 */
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { parse } from 'yaml';
import { builtinRegistry } from '../../activities';
import { buildCli } from '../../src/cli';
import { toolDeps, workerPart } from '../../src/compose';
import { configSchema, loadConfig, productionVariables, type ProductionRole } from '../../src/config';

const root = join(__dirname, '..', '..');
const read = (file: string) => readFileSync(join(root, file), 'utf8');

interface Service {
  image?: string;
  build?: unknown;
  command?: string[];
  env_file?: string[];
  environment?: Record<string, string>;
  healthcheck?: { test: string[] };
  depends_on?: Record<string, { condition: string }>;
}
const SIGNING_KEY = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const compose = parse(read('docker-compose.yml'), { merge: true }) as { services: Record<string, Service> };
const services = compose.services;
const airlock = Object.entries(services).filter(([, s]) => s.image === 'airlock:local');

/** KEY=value lines of an env file's committed template. */
function envTemplate(file: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of read(`${file}.example`).split('\n')) {
    const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
    if (m) out[m[1]] = m[2];
  }
  return out;
}

/** What a service's process sees: its env files' templates, then its `environment`. */
const envOf = (s: Service) => ({
  ...Object.assign({}, ...(s.env_file ?? []).map(envTemplate)),
  ...s.environment,
});

/** The CLI command a service runs, with its options parsed the way commander parses them. */
function cliCommand(argv: string[]): { path: string; opts: Record<string, unknown> } {
  let cmd: Command = buildCli(() => loadConfig({}));
  const path: string[] = [];
  let rest = [...argv];
  for (;;) {
    const sub = cmd.commands.find((c) => c.name() === rest[0]);
    if (!sub) break;
    path.push(rest[0]);
    cmd = sub;
    rest = rest.slice(1);
  }
  expect(path.length).toBeGreaterThan(0);
  const known = cmd.options.flatMap((o) => [o.long, o.short].filter(Boolean));
  for (const arg of rest.filter((a) => a.startsWith('-'))) expect(known).toContain(arg);
  cmd.exitOverride().parseOptions(rest);
  return { path: path.join(' '), opts: cmd.opts() };
}

function roleOf(s: Service): ProductionRole | undefined {
  const { path, opts } = cliCommand(s.command!);
  if (path === 'serve') return opts.worker === false ? 'api' : undefined;
  if (path === 'worker') return opts.role as ProductionRole;
  return undefined;
}

test('the topology: PostgreSQL, a migrated Temporal with its UI, the API, a control and an execution worker', () => {
  expect(Object.keys(services).sort()).toEqual(
    [
      'postgresql',
      'temporal-schema',
      'temporal',
      'temporal-ui',
      'airlock-namespace',
      'airlock-api',
      'airlock-control',
      'airlock-execution',
    ].sort(),
  );
  expect(Object.fromEntries(airlock.map(([name, s]) => [name, roleOf(s) ?? cliCommand(s.command!).path]))).toEqual({
    'airlock-namespace': 'cluster init-namespace',
    'airlock-api': 'api',
    'airlock-control': 'control',
    'airlock-execution': 'execution',
  });
  // Start order: schema before the server, namespace before Airlock's processes.
  expect(services.temporal.depends_on!['temporal-schema'].condition).toBe('service_completed_successfully');
  for (const name of ['airlock-api', 'airlock-control', 'airlock-execution'])
    expect(services[name].depends_on!['airlock-namespace'].condition).toBe('service_completed_successfully');
  for (const name of ['postgresql', 'temporal', 'airlock-api']) expect(services[name].healthcheck?.test).toBeDefined();
});

test('the Temporal server image is the version tools/temporal-server/go.mod pins', () => {
  const pinned = /^\s*go\.temporal\.io\/server (v\S+)/m.exec(read('tools/temporal-server/go.mod'))![1];
  expect(services.temporal.image).toBe(`temporalio/server:${pinned.replace(/^v/, '')}`);
});

test.each(['airlock-api', 'airlock-control', 'airlock-execution'])(
  '%s gets every variable its role needs, only ones the config knows, and starts with them',
  (name) => {
    const s = services[name];
    const role = roleOf(s)!;
    const env = envOf(s);
    for (const v of productionVariables[role]) expect(env).toHaveProperty([v]);
    const known = Object.keys(configSchema.shape);
    const unknown = Object.keys(env).filter((k) => !known.includes(k) && !k.startsWith('AIRLOCK_SECRET_'));
    expect(unknown).toEqual([]);

    // The template holds a placeholder where the operator puts the key (a PEM-looking one would read as a secret).
    expect(env.AIRLOCK_AUDIT_SIGNING_KEY).toMatch(/^CHANGE_ME/);
    const config = loadConfig({ ...env, AIRLOCK_AUDIT_SIGNING_KEY: SIGNING_KEY });
    if (role === 'api') {
      expect(config.api.host).toBe('0.0.0.0');
      return;
    }
    const { opts } = cliCommand(s.command!);
    const part = workerPart(config, builtinRegistry(), toolDeps(config), role, opts.queue as string | undefined, env);
    if (role === 'execution') expect(part.registry.names()).toEqual(builtinRegistry().names());
  },
);

test('secrets come from env files only: the compose file names none, and only execution workers get tool secrets', () => {
  const secretish = /PASSWORD|PWD|SECRET|TOKEN|SIGNING_KEY|DATABASE_URL/;
  for (const [name, s] of Object.entries(services)) {
    expect([name, Object.keys(s.environment ?? {}).filter((k) => secretish.test(k))]).toEqual([name, []]);
    const toolSecrets = Object.keys(envOf(s)).filter((k) => k.startsWith('AIRLOCK_SECRET_'));
    if (name !== 'airlock-execution') expect([name, toolSecrets]).toEqual([name, []]);
  }
  expect(read('.gitignore')).toMatch(/^\.env\.\*$/m);
  // Nor in the image: the build context leaves them out.
  expect(read('.dockerignore')).toMatch(/^\.env\.\*$/m);
});

test('the image: a multi-stage build, production dependencies only, a non-root user, the CLI as entry point', () => {
  const dockerfile = read('Dockerfile');
  const stages = dockerfile.split(/^FROM /m).slice(1);
  expect(stages).toHaveLength(2);
  expect(stages[0]).toMatch(/npm ci[^\n]*\n[\s\S]*npm run build/);
  expect(stages[1]).toMatch(/npm ci --omit=dev/);
  expect(stages[1]).toMatch(/^USER (?!root)\w+/m);
  expect(stages[1]).toMatch(/ENTRYPOINT \["node", "bin\/airlock\.js"\]/);
});
