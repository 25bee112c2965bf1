import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findBwrap } from '../../../activities/shell/sandbox';
import { activityRunner, failureOf } from '../../helpers/activity';

const { run } = activityRunner({ shell: { allowedRoots: [], sandbox: 'bwrap' } });
const cwd = mkdtempSync(join(tmpdir(), 'airlock-shell-'));

test('runs argv without a shell, in cwd, with the idempotency key in the environment', async () => {
  const out = await run('shell.run', {
    input: { argv: ['sh', '-c', 'pwd; echo "$AIRLOCK_IDEMPOTENCY_KEY"; echo $HOME_SECRET'], cwd },
  });
  expect(out).toMatchObject({ exitCode: 0, stdout: `${cwd}\njob-1/step\n\n`, truncatedBytes: 0 });
});

test('the worker environment does not leak into commands', async () => {
  process.env.AIRLOCK_SECRET_TOKEN = 'do-not-leak';
  try {
    const out = (await run('shell.run', { input: { argv: ['env'], cwd } })) as { stdout: string };
    expect(out.stdout).not.toContain('do-not-leak');
  } finally {
    delete process.env.AIRLOCK_SECRET_TOKEN;
  }
});

test('output is capped and the dropped bytes are counted', async () => {
  const out = await run('shell.run', {
    input: { argv: ['sh', '-c', 'head -c 5000 /dev/zero | tr "\\0" x'], cwd, maxOutputBytes: 1000 },
  });
  expect(out).toMatchObject({ stdout: 'x'.repeat(1000), truncatedBytes: 4000 });
});

test('a non-zero exit is a non-retryable CommandFailed with stderr', async () => {
  const err = await failureOf(run('shell.run', { input: { argv: ['sh', '-c', 'echo boom >&2; exit 7'], cwd } }));
  expect(err).toMatchObject({ type: 'CommandFailed', nonRetryable: true });
  expect(err.message).toContain('exited 7: boom');
});

test('a timeout kills the whole process group', async () => {
  const marker = join(cwd, 'grandchild-survived');
  const started = Date.now();
  const err = await failureOf(
    run('shell.run', { input: { argv: ['sh', '-c', `(sleep 2; touch ${marker}) & sleep 30`], cwd, timeoutSec: 1 } }),
  );
  expect(err).toMatchObject({ type: 'CommandTimedOut', nonRetryable: true });
  expect(Date.now() - started).toBeLessThan(10_000);
  await new Promise((r) => setTimeout(r, 2500));
  expect(existsSync(marker)).toBe(false);
});

test('a missing program and a cwd outside the allowed roots are refused', async () => {
  expect(await failureOf(run('shell.run', { input: { argv: ['no-such-program-xyz'], cwd } }))).toMatchObject({
    type: 'CommandFailed',
  });
  const confined = activityRunner({ shell: { allowedRoots: [cwd] } });
  expect(await failureOf(confined.run('shell.run', { input: { argv: ['true'], cwd: '/' } }))).toMatchObject({
    type: 'PathNotAllowed',
    nonRetryable: true,
  });
  expect(await failureOf(confined.run('shell.run', { input: { argv: ['true'], cwd: `${cwd}/../` } }))).toMatchObject({
    type: 'PathNotAllowed',
  });
  await expect(confined.run('shell.run', { input: { argv: ['true'], cwd } })).resolves.toMatchObject({ exitCode: 0 });
});

test('cancelling the activity kills the command', async () => {
  const { env } = activityRunner();
  const p = run('shell.run', { input: { argv: ['sleep', '30'], cwd } }, env);
  setTimeout(() => env.cancel(), 300);
  const started = Date.now();
  const err = await failureOf(p);
  expect(err.name).toBe('CancelledFailure');
  expect(Date.now() - started).toBeLessThan(5_000);
});

describe('the bubblewrap sandbox', () => {
  const sandboxed = activityRunner({ shell: { allowedRoots: [], sandbox: 'bwrap' } });
  const outsideDir = mkdtempSync(join(process.cwd(), '.airlock-outside-'));
  afterAll(() => rmSync(outsideDir, { recursive: true, force: true }));

  test('bwrap is installed here (CI installs it)', () => {
    expect(findBwrap()).toBeDefined();
  });

  test('a write outside the writable paths fails even when the policy facts missed it', async () => {
    // A crafted call straight to the tool: the policy never saw it, only the sandbox stands in the way.
    const target = join(outsideDir, 'escaped');
    const script = `printf x > ${target}; echo "exit=$?"; touch /usr/airlock-escaped 2>&1; echo "exit=$?"`;
    const out = (await sandboxed.run('shell.run', {
      input: { argv: ['sh', '-c', script], cwd },
      limits: { writablePaths: [cwd] },
    })) as { stdout: string };
    expect(out.stdout).toMatch(/exit=[1-9]/);
    expect(out.stdout).not.toContain('exit=0');
    expect(existsSync(target)).toBe(false);
    expect(existsSync('/usr/airlock-escaped')).toBe(false);
  });

  test('the writable paths and the cwd are writable; nothing of the worker environment or network gets in', async () => {
    process.env.AIRLOCK_SLACK_BOT_TOKEN = 'xoxb-do-not-leak';
    try {
      const out = (await sandboxed.run('shell.run', {
        input: {
          argv: ['sh', '-c', 'echo ok > made.txt && cat made.txt && env && cat /proc/1/cmdline; ls /sys/class/net'],
          cwd,
          env: { MY_SETTING: 'v1' },
        },
      })) as { stdout: string };
      expect(readFileSync(join(cwd, 'made.txt'), 'utf8')).toBe('ok\n');
      expect(out.stdout).toContain('MY_SETTING=v1');
      expect(out.stdout).not.toContain('do-not-leak');
      // Its own PID namespace: pid 1 is the sandbox's, not the host's init.
      expect(out.stdout).not.toMatch(/systemd|init\b/);
      // Its own network namespace: loopback only.
      expect(out.stdout.trim().split('\n').pop()).toBe('lo');
    } finally {
      delete process.env.AIRLOCK_SLACK_BOT_TOKEN;
    }
  });

  test('environment that changes what runs is refused unless the policy allowed it', async () => {
    const err = await failureOf(
      sandboxed.run('shell.run', { input: { argv: ['true'], cwd, env: { LD_PRELOAD: '/tmp/evil.so' } } }),
    );
    expect(err).toMatchObject({ type: 'CommandFailed', nonRetryable: true });
    expect(err.message).toContain('LD_PRELOAD may change what runs');
    await expect(
      sandboxed.run('shell.run', {
        input: { argv: ['sh', '-c', 'echo $GIT_AUTHOR_NAME'], cwd, env: { GIT_AUTHOR_NAME: 'bot' } },
        limits: { allowEnv: ['GIT_AUTHOR_NAME'] },
      }),
    ).resolves.toMatchObject({ stdout: 'bot\n' });
  });

  test('a timeout kills the sandbox and everything in it', async () => {
    const marker = join(cwd, 'sandboxed-grandchild-survived');
    const err = await failureOf(
      sandboxed.run('shell.run', {
        input: { argv: ['sh', '-c', `(sleep 2; touch ${marker}) & sleep 30`], cwd, timeoutSec: 1 },
      }),
    );
    expect(err).toMatchObject({ type: 'CommandTimedOut' });
    await new Promise((r) => setTimeout(r, 2500));
    expect(existsSync(marker)).toBe(false);
  });

  test('without bwrap, shell.run refuses to run and names the binary, unless the config opts out', async () => {
    const missing = activityRunner({ shell: { allowedRoots: [], sandbox: 'bwrap', bwrapPath: '/nonexistent/bwrap' } });
    const err = await failureOf(missing.run('shell.run', { input: { argv: ['true'], cwd } }));
    expect(err).toMatchObject({ type: 'CommandFailed', nonRetryable: true });
    expect(err.message).toContain('"bwrap" is not installed');
    expect(err.message).toContain('AIRLOCK_SHELL_SANDBOX=off');
    const auto = activityRunner({ shell: { allowedRoots: [], sandbox: 'auto', bwrapPath: '/nonexistent/bwrap' } });
    await expect(auto.run('shell.run', { input: { argv: ['true'], cwd } })).resolves.toMatchObject({ exitCode: 0 });
    const off = activityRunner({ shell: { allowedRoots: [], sandbox: 'off' } });
    await expect(off.run('shell.run', { input: { argv: ['true'], cwd } })).resolves.toMatchObject({ exitCode: 0 });
  });

  test('a worker killed with SIGKILL leaves no running command behind', async () => {
    const marker = join(cwd, 'after-worker-died');
    const started = join(cwd, 'command-started');
    const jobId = `crash-${process.pid}-${Date.now()}`;
    const pidFile = join(
      tmpdir(),
      'airlock-shell',
      `${createHash('sha256').update(`${jobId}/step`).digest('hex').slice(0, 32)}.pid`,
    );
    const worker = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        join(__dirname, '..', '..', 'helpers', 'shell-child.ts'),
        'bwrap',
        cwd,
        `touch ${started}; sleep 3 && touch ${marker}`,
        jobId,
      ],
      { stdio: 'ignore' },
    );
    const exited = new Promise((r) => worker.once('exit', r));
    // Wait for the command itself to run inside the sandbox (not just for bwrap to be spawned).
    const deadline = Date.now() + 30_000;
    while (!existsSync(started) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(existsSync(started)).toBe(true);
    const sandboxPid = Number(readFileSync(pidFile, 'utf8'));
    expect(alive(sandboxPid)).toBe(true);
    worker.kill('SIGKILL'); // the worker alone, not its process group: the sandbox has its own
    await exited;
    // Everything in the sandbox (bwrap, its PID 1, the shell, sleep) goes within moments, long before the marker.
    const gone = Date.now() + 2_000;
    while ((alive(sandboxPid) || processesMentioning(marker).length) && Date.now() < gone)
      await new Promise((r) => setTimeout(r, 50));
    expect(alive(sandboxPid)).toBe(false);
    expect(processesMentioning(marker)).toEqual([]);
    await new Promise((r) => setTimeout(r, 3500));
    expect(existsSync(marker)).toBe(false);
  }, 60_000);
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z '); // a zombie is dead
  } catch {
    return false;
  }
}

/** Host processes whose command line names `text`. */
function processesMentioning(text: string): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        return readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(text);
      } catch {
        return false;
      }
    })
    .map(Number);
}
