/**
 * The dev-server launcher starts the real Temporal CLI, and whatever it started is gone after teardown, after a
 * failed start and when this process exits; a port that is taken is an error naming the port.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { searchAttributeKeys } from '../../src/core/search-attributes';
import { freePort, PortInUseError, startDevServer } from '../../src/temporal/server';
import { uniqueId } from '../helpers/temporal';

const dir = mkdtempSync(join(tmpdir(), 'airlock-server-'));

/** Running (a zombie waiting for its reaper counts as gone). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = execFileSync('ps', ['-o', 'stat=', '-p', String(pid)], { encoding: 'utf8' }).trim();
    return stat !== '' && !stat.startsWith('Z');
  } catch {
    return false; // exited between the two looks
  }
}

/** Pids of `temporal server start-dev` processes whose arguments include `marker` (we use the namespace). */
function serversWith(marker: string): number[] {
  const out = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' });
  return out
    .split('\n')
    .filter((line) => line.includes('start-dev') && line.includes(marker))
    .map((line) => Number(line.trim().split(/\s+/)[0]));
}

function script(name: string, body: string): string {
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}

test('starts the real dev server with our namespace and search attributes; teardown stops the process', async () => {
  const namespace = uniqueId('ns');
  const server = await startDevServer({ namespace });
  try {
    expect(server.connection.options.address).toBe(server.address);
    expect(alive(server.pid)).toBe(true);
    const { customAttributes } = await server.connection.operatorService.listSearchAttributes({ namespace });
    for (const key of searchAttributeKeys) expect(customAttributes?.[key.name]).toBeDefined();
    await expect(server.client.workflow.count()).resolves.toEqual(expect.objectContaining({ count: 0 }));
  } finally {
    await server.teardown();
  }
  expect(alive(server.pid)).toBe(false);
  expect(serversWith(namespace)).toEqual([]);
  await server.teardown(); // idempotent
});

test('a port that is taken is an error naming the port, and nothing is started', async () => {
  const port = await freePort();
  const squatter: Server = createServer();
  await new Promise<void>((r) => squatter.listen(port, '127.0.0.1', r));
  const namespace = uniqueId('ns');
  try {
    const start = startDevServer({ port, namespace });
    await expect(start).rejects.toBeInstanceOf(PortInUseError);
    await expect(start).rejects.toThrow(`port ${port} on 127.0.0.1 (Temporal frontend) is already in use`);
    await expect(startDevServer({ uiPort: port, namespace })).rejects.toThrow(
      `port ${port} on 127.0.0.1 (Temporal UI)`,
    );
  } finally {
    await new Promise((r) => squatter.close(r));
  }
  expect(serversWith(namespace)).toEqual([]);
});

test('a server that never answers is stopped when the start times out', async () => {
  const pidFile = join(dir, 'hang.pid');
  const hang = script('hang', `echo $$ > ${pidFile}\nexec sleep 60`);
  await expect(startDevServer({ executable: hang, startTimeoutMs: 500 })).rejects.toThrow(
    /did not answer within 500 ms/,
  );
  expect(alive(Number(readFileSync(pidFile, 'utf8')))).toBe(false);
});

test('a server that exits at start is reported with what it said', async () => {
  const fail = script('fail', 'echo "boom: bad flag" >&2\nexit 3');
  await expect(startDevServer({ executable: fail })).rejects.toThrow(
    /exited \(code 3\) before it answered:\nboom: bad flag/,
  );
  // The real binary refusing a flag: its own message comes through.
  await expect(startDevServer({ extraArgs: ['--no-such-flag'] })).rejects.toThrow(/no-such-flag/);
});

test('the real server started by a failed start is gone', async () => {
  const namespace = uniqueId('ns');
  // Times out long before the real server can answer: the launcher must stop what it spawned.
  await expect(startDevServer({ namespace, startTimeoutMs: 1 })).rejects.toThrow(/did not answer/);
  expect(serversWith(namespace)).toEqual([]);
});

test('a process that exits without teardown (a failed start after the server came up) takes its server with it', async () => {
  const namespace = uniqueId('ns');
  const program = [
    `const { startDevServer } = require(${JSON.stringify(join(__dirname, '..', '..', 'src', 'temporal', 'server.ts'))});`,
    `startDevServer({ namespace: ${JSON.stringify(namespace)} }).then((s) => {`,
    '  console.log(s.pid);',
    "  throw new Error('invalid people file');", // unhandled: the process exits 1 without teardown
    '});',
  ].join('\n');
  let out = '';
  try {
    execFileSync(process.execPath, ['-r', 'tsx/cjs', '-e', program], { encoding: 'utf8', stdio: 'pipe' });
  } catch (err) {
    out = (err as { stdout: string }).stdout;
  }
  const pid = Number(out.trim());
  expect(pid).toBeGreaterThan(0);
  expect(alive(pid)).toBe(false);
  expect(serversWith(namespace)).toEqual([]);
});
