import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { activityRunner, failureOf } from '../../helpers/activity';

const { run } = activityRunner();
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
