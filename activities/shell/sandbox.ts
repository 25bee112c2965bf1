/**
 * The run-time backstop for shell.run: bubblewrap (`bwrap`) runs the command in fresh namespaces where only the
 * policy's writable paths are writable, whatever the policy's static facts missed. It dies with the worker
 * (`--die-with-parent` and a PID namespace: when bwrap dies, everything inside is killed).
 */
import { existsSync } from 'node:fs';
import { SEARCH_PATH, programFile, realPath } from '../../src/core/facts';

/** `bwrap`: required (refuse without it); `auto`: use it when installed (development); `off`: explicit opt-out. */
export type SandboxMode = 'bwrap' | 'auto' | 'off';

export const SANDBOX_PATH = SEARCH_PATH.join(':');

/** The bwrap binary: `path` when given (and a file), else `bwrap` in the system dirs (never the worker's PATH). */
export function findBwrap(path?: string): string | undefined {
  return programFile(path ?? 'bwrap', '/');
}

/**
 * Host directories hidden behind an empty tmpfs: other users' files and credentials (/root, /home), sockets of
 * running services (/run: a read-only bind still lets a process connect to a socket), and shared temp dirs.
 */
const MASKED = ['/root', '/home', '/run', '/var/run', '/var/tmp', '/tmp'];

export interface SandboxSpec {
  cwd: string;
  /** Real absolute paths the command may write (bound read-write, in this order, after the masks). */
  writable: string[];
  env: Record<string, string>;
  argv: string[];
}

/** bwrap's argv for one command. No network: shell.run is for local work; http.request is the way out. */
export function bwrapArgs(spec: SandboxSpec): string[] {
  const args = ['--die-with-parent', '--new-session', '--unshare-all', '--ro-bind', '/', '/', '--dev', '/dev'];
  args.push('--proc', '/proc');
  for (const dir of MASKED) if (existsSync(dir) && realPath(dir) === dir) args.push('--tmpfs', dir);
  for (const path of spec.writable) if (existsSync(path)) args.push('--bind', path, path);
  args.push('--chdir', spec.cwd, '--clearenv');
  for (const [k, v] of Object.entries(spec.env)) args.push('--setenv', k, v);
  return [...args, '--', ...spec.argv];
}
