/** Which tools and queues each worker role gets from config (src/compose.ts workerPart). */
import { builtinRegistry } from '../activities';
import { toolDeps, workerPart, WorkerRoleError } from '../src/compose';
import { loadConfig } from '../src/config';

const registry = builtinRegistry();
const config = (toolQueues: string) => loadConfig({ AIRLOCK_TOOL_QUEUES: toolQueues, AIRLOCK_SECRET_X: 'ignored' });
const part = (q: string, role: 'all' | 'control' | 'execution', queue?: string, env: NodeJS.ProcessEnv = {}) => {
  const c = config(q);
  return workerPart(c, registry, toolDeps(c), role, queue, env);
};

test('all: the job queue and every tool, as `airlock dev` runs', () => {
  const p = part('', 'all');
  expect(p.taskQueue).toBe('airlock');
  expect(p.registry.names()).toEqual(registry.names());
});

test('control: refuses to strand tools on its own queue, and refuses tool secrets in its environment', () => {
  expect(() => part('git=exec', 'control')).toThrow(WorkerRoleError);
  expect(() => part('git=exec', 'control')).toThrow(/shell\.run.* would run on the control queue "airlock"/);
  expect(() => part('*=airlock', 'control')).toThrow(/would run on the control queue/);
  expect(() => part('*=exec', 'control', undefined, { AIRLOCK_SECRET_GITHUB: 't' })).toThrow(
    'control worker: AIRLOCK_SECRET_GITHUB set; tool secrets belong on execution workers',
  );
  const p = part('*=exec', 'control', undefined, { AIRLOCK_SECRET_GITHUB: undefined });
  expect(p.taskQueue).toBe('airlock');
  // The control plane's deps resolve no secret, whatever the process environment holds.
  process.env.AIRLOCK_SECRET_LEAK = 'x';
  try {
    expect(p.deps.secret('LEAK')).toBeUndefined();
  } finally {
    delete process.env.AIRLOCK_SECRET_LEAK;
  }
});

test('execution: polls the one routed queue (or the one named) and runs only the tools routed there', () => {
  const one = part('*=exec', 'execution');
  expect(one.taskQueue).toBe('exec');
  expect(one.registry.names()).toEqual(registry.names());

  expect(() => part('shell=exec-prod,*=exec', 'execution')).toThrow(
    'execution worker: AIRLOCK_TOOL_QUEUES routes to exec-prod, exec; name one with --queue',
  );
  const prod = part('shell=exec-prod,*=exec', 'execution', 'exec-prod');
  expect(prod.registry.names()).toEqual(registry.names().filter((n) => n.startsWith('shell.')));
  const rest = part('shell=exec-prod,*=exec', 'execution', 'exec');
  expect(rest.registry.names()).toEqual(registry.names().filter((n) => !n.startsWith('shell.')));

  expect(() => part('', 'execution')).toThrow('routes no tool to an execution queue');
  expect(() => part('*=exec', 'execution', 'other')).toThrow('routes no tool to queue "other"');
});
