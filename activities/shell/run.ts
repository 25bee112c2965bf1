import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { z } from 'zod';
import { FailureType } from '../../src/core/failures';
import { isDangerousEnv, isUnder, realPath } from '../../src/core/facts';
import { defineTool } from '../tool';
import { bwrapArgs, findBwrap, SANDBOX_PATH } from './sandbox';

const HEARTBEAT_EVERY_MS = 2_000;
const pidDir = join(tmpdir(), 'airlock-shell');

/** Keeps the first `limit` bytes of a stream and counts the rest. */
class CappedBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  dropped = 0;
  constructor(private readonly limit: number) {}
  push(chunk: Buffer) {
    const room = this.limit - this.size;
    if (room > 0) {
      this.chunks.push(chunk.subarray(0, room));
      this.size += Math.min(room, chunk.length);
    }
    this.dropped += Math.max(0, chunk.length - Math.max(room, 0));
  }
  text() {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

const shorten = (s: string) => (s.length > 60 ? `${s.slice(0, 57)}...` : s);

function requireUnder(cwd: string, roots: string[], what: string) {
  if (roots.length && !roots.some((root) => isUnder(cwd, root))) {
    throw ApplicationFailure.create({
      type: FailureType.PathNotAllowed,
      nonRetryable: true,
      message: `cwd ${cwd} is outside the ${what} (${roots.join(', ')})`,
    });
  }
}

function killGroup(pid: number | undefined) {
  if (!pid) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/**
 * A previous attempt of the same step may still be running: its worker died but its detached process group did not.
 * Kill it before starting again, so two attempts never run side by side.
 */
function claimPidFile(key: string): string {
  mkdirSync(pidDir, { recursive: true });
  const file = join(pidDir, `${createHash('sha256').update(key).digest('hex').slice(0, 32)}.pid`);
  try {
    const stale = Number(readFileSync(file, 'utf8'));
    if (Number.isInteger(stale) && stale > 0) killGroup(stale);
  } catch {
    // no earlier attempt
  }
  return file;
}

export const shellRun = defineTool({
  name: 'shell.run',
  description: 'Run a command (argv, no shell) in a working directory, with a timeout and capped output.',
  risk: 'high',
  input: z.strictObject({
    argv: z.array(z.string().min(1)).min(1, 'needs the program to run'),
    cwd: z.string().refine(isAbsolute, 'must be an absolute path'),
    env: z.record(z.string().regex(/^[A-Z_][A-Z0-9_]*$/, 'env names are UPPER_SNAKE_CASE'), z.string()).default({}),
    timeoutSec: z.number().int().positive().max(3600).default(60),
    maxOutputBytes: z
      .number()
      .int()
      .positive()
      .max(1024 * 1024)
      .default(64 * 1024),
    /** Declares the command safe to run again; only then is it retried after a crash or timeout. */
    idempotent: z.boolean().default(false),
  }),
  output: z.object({
    exitCode: z.number(),
    stdout: z.string(),
    stderr: z.string(),
    truncatedBytes: z.number(),
    durationMs: z.number(),
  }),
  idempotency:
    'The key is passed as AIRLOCK_IDEMPOTENCY_KEY; a command is retried only when the job marks it idempotent, ' +
    'and a stale earlier attempt is killed before a retry starts.',
  timeouts: { startToCloseMs: 65 * 60_000, heartbeatMs: 15_000 },
  retry: (input) => ({ maximumAttempts: input.idempotent ? 3 : 1 }),
  // Worst-case compute minutes.
  cost: (input) => Math.ceil(input.timeoutSec / 60),
  async execute(input, ctx) {
    // The worker's own roots, then the policy's writable paths, re-checked when acting: a symlink swapped after the
    // policy decision must not widen what the command can reach.
    const cwd = realPath(input.cwd);
    requireUnder(cwd, ctx.deps.shell.allowedRoots, 'allowed roots');
    if (ctx.limits?.writablePaths) requireUnder(cwd, ctx.limits.writablePaths, 'writable paths');
    // The policy refuses environment that changes what runs unless its rule allows it; so does the tool.
    const allowEnv = new Set(ctx.limits?.allowEnv ?? []);
    const refused = Object.keys(input.env).filter((k) => isDangerousEnv(k) && !allowEnv.has(k));
    if (refused.length) {
      throw ApplicationFailure.create({
        type: FailureType.CommandFailed,
        nonRetryable: true,
        message: `environment ${refused.join(', ')} may change what runs and no policy rule allows it (limits.allowEnv)`,
      });
    }
    const mode = ctx.deps.shell.sandbox ?? 'bwrap';
    const bwrap = mode === 'off' ? undefined : findBwrap(ctx.deps.shell.bwrapPath);
    if (mode === 'bwrap' && !bwrap) {
      throw ApplicationFailure.create({
        type: FailureType.CommandFailed,
        nonRetryable: true,
        message:
          'shell.run runs commands in a bubblewrap sandbox and the binary "bwrap" is not installed ' +
          '(apt-get install bubblewrap), or set AIRLOCK_SHELL_SANDBOX=off to run commands unsandboxed',
      });
    }
    if (mode === 'auto' && !bwrap) ctx.log.warn('bwrap not installed: running shell.run unsandboxed (development)');
    const pidFile = claimPidFile(ctx.idempotencyKey);
    const started = Date.now();
    const stdout = new CappedBuffer(input.maxOutputBytes);
    const stderr = new CappedBuffer(input.maxOutputBytes);
    const env: Record<string, string> = {
      PATH: bwrap ? SANDBOX_PATH : (process.env.PATH ?? SANDBOX_PATH),
      HOME: bwrap ? '/tmp' : (process.env.HOME ?? cwd),
      LANG: process.env.LANG ?? 'C.UTF-8',
      ...input.env,
      AIRLOCK_IDEMPOTENCY_KEY: ctx.idempotencyKey,
      AIRLOCK_JOB_ID: ctx.jobId,
      AIRLOCK_STEP_ID: ctx.stepId,
    };
    // Writable inside the sandbox: the policy's writable paths; without them, the worker's roots, else the cwd.
    const roots = ctx.limits?.writablePaths ?? ctx.deps.shell.allowedRoots;
    const writable = (roots.length ? roots : [cwd]).map((p) => realPath(p));
    const [file, args] = bwrap
      ? [bwrap, bwrapArgs({ cwd, writable, env, argv: input.argv })]
      : [input.argv[0], input.argv.slice(1)];
    const child = spawn(file, args, {
      cwd,
      // Own process group, so a timeout or cancel kills the command and everything it started.
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      // bwrap itself gets nothing of the worker's environment; the command gets `env` through --setenv.
      env: bwrap ? { PATH: SANDBOX_PATH } : env,
    });
    if (child.pid) writeFileSync(pidFile, String(child.pid));
    child.stdout.on('data', (c: Buffer) => stdout.push(c));
    child.stderr.on('data', (c: Buffer) => stderr.push(c));

    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid);
    }, input.timeoutSec * 1000);
    const beat = setInterval(() => ctx.heartbeat({ runningMs: Date.now() - started }), HEARTBEAT_EVERY_MS);
    const onAbort = () => killGroup(child.pid);
    ctx.signal.addEventListener('abort', onAbort);

    try {
      const exitCode = await new Promise<number>((resolveExit, reject) => {
        child.on('error', reject);
        child.on('close', (code, signal) => resolveExit(code ?? (signal ? 128 : 1)));
      }).catch((err: NodeJS.ErrnoException) => {
        throw ApplicationFailure.create({
          type: FailureType.CommandFailed,
          nonRetryable: true,
          message: `could not start ${input.argv[0]}: ${err.code ?? err.message}`,
        });
      });
      if (ctx.signal.aborted) throw new CancelledFailure('shell.run cancelled; process group killed');
      const result = {
        exitCode,
        stdout: stdout.text(),
        stderr: stderr.text(),
        truncatedBytes: stdout.dropped + stderr.dropped,
        durationMs: Date.now() - started,
      };
      if (timedOut) {
        throw ApplicationFailure.create({
          type: FailureType.CommandTimedOut,
          nonRetryable: !input.idempotent,
          message: `${input.argv[0]} timed out after ${input.timeoutSec}s; process group killed`,
          details: [result],
        });
      }
      if (exitCode !== 0) {
        const tail = result.stderr.trim().split('\n').slice(-3).join(' | ');
        throw ApplicationFailure.create({
          type: FailureType.CommandFailed,
          nonRetryable: true,
          message: `${shorten(input.argv.join(' '))} exited ${exitCode}${tail ? `: ${tail}` : ''}`,
          details: [result],
        });
      }
      return result;
    } finally {
      clearTimeout(timer);
      clearInterval(beat);
      ctx.signal.removeEventListener('abort', onAbort);
      rmSync(pidFile, { force: true });
    }
  },
});
