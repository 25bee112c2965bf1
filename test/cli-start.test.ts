/**
 * `airlock serve` and `airlock worker`, as real processes, refuse to start with the development credentials published
 * in README or without the audit signing key, unless started for development; each refusal names what to change.
 * Nothing listens at the Temporal address: a process that passes the checks stops at connecting, which is the proof
 * that the checks passed.
 */
import { spawnSync } from 'node:child_process';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEV_PEOPLE_FILE, DEV_PEOPLE_FILE_SHA256, DEV_TOKENS } from '../src/dev/credentials';
import { hashToken } from '../src/people';
import { fixture } from './helpers/temporal';

const CLI = join(__dirname, '..', 'bin', 'airlock.js');
const dir = mkdtempSync(join(tmpdir(), 'airlock-start-'));
const KEY = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();

function start(command: 'serve' | 'worker', env: Record<string, string>) {
  const base = { ...process.env };
  for (const k of Object.keys(base)) if (k.startsWith('AIRLOCK_')) delete base[k];
  const r = spawnSync(process.execPath, [CLI, command], {
    env: { ...base, AIRLOCK_TEMPORAL_ADDRESS: '127.0.0.1:1', AIRLOCK_DATA_DIR: dir, ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}
const refusedForCredentials = /refusing to start with development credentials/;
const connecting = /Connection refused|tcp connect error/i;

test('the published list matches the development people file', () => {
  expect(createHash('sha256').update(readFileSync(DEV_PEOPLE_FILE)).digest('hex')).toBe(DEV_PEOPLE_FILE_SHA256);
  const text = readFileSync(DEV_PEOPLE_FILE, 'utf8');
  for (const t of DEV_TOKENS) expect(text).toContain(hashToken(t));
});

test.each(['serve', 'worker'] as const)('%s refuses the development people file (the default)', (command) => {
  const r = start(command, { AIRLOCK_AUDIT_SIGNING_KEY: KEY });
  expect(r.status).toBe(1);
  expect(r.out).toMatch(refusedForCredentials);
  expect(r.out).toContain(`${DEV_PEOPLE_FILE} is the development people file`);
  expect(r.out).toContain('caller ci has the published development token dev-ci-token');
  expect(r.out).toContain('AIRLOCK_ALLOW_DEV_CREDENTIALS=1');
  expect(r.out).not.toMatch(connecting);
});

test('a copy of the development people file elsewhere, or one dev token in a file of your own, is refused', () => {
  const copy = join(dir, 'people-copy.yaml');
  copyFileSync(DEV_PEOPLE_FILE, copy);
  const copied = start('serve', { AIRLOCK_PEOPLE_FILE: copy, AIRLOCK_AUDIT_SIGNING_KEY: KEY });
  expect(copied.status).toBe(1);
  expect(copied.out).toContain(`${copy} is a copy of the development people file`);

  const own = join(dir, 'people-own.yaml');
  writeFileSync(
    own,
    `people:\n  erin: { groups: [sre], tokenSha256: ${hashToken('a-real-secret-token')} }\n` +
      `callers:\n  deployer: { tokenSha256: ${hashToken('dev-ci-token')}, agents: ['*'] }\n` +
      `agents:\n  helper: { tokenSha256: ${hashToken('dev-deploy-bot-token')} }\n`,
  );
  const mixed = start('worker', { AIRLOCK_PEOPLE_FILE: own, AIRLOCK_AUDIT_SIGNING_KEY: KEY });
  expect(mixed.status).toBe(1);
  expect(mixed.out).toContain('caller deployer has the published development token dev-ci-token');
  expect(mixed.out).toContain('agent helper has the published development token dev-deploy-bot-token');
  expect(mixed.out).not.toContain('erin');
});

test.each(['serve', 'worker'] as const)('%s without AIRLOCK_AUDIT_SIGNING_KEY refuses, naming it', (command) => {
  const r = start(command, { AIRLOCK_PEOPLE_FILE: fixture('people-api.yaml') });
  expect(r.status).toBe(1);
  expect(r.out).toContain('AIRLOCK_AUDIT_SIGNING_KEY: required to sign audit trails');
  expect(r.out).not.toMatch(connecting);
});

test('a bad AIRLOCK_AUDIT_KEYRING stops the start, naming it', () => {
  const r = start('serve', {
    AIRLOCK_PEOPLE_FILE: fixture('people-api.yaml'),
    AIRLOCK_AUDIT_SIGNING_KEY: KEY,
    AIRLOCK_AUDIT_KEYRING: join(dir, 'no-such-keys'),
  });
  expect(r.status).toBe(1);
  expect(r.out).toContain('AIRLOCK_AUDIT_KEYRING:');
});

test('with own credentials and the key, or with the development opt-in, the checks pass (it goes on to connect)', () => {
  const own = start('serve', { AIRLOCK_PEOPLE_FILE: fixture('people-api.yaml'), AIRLOCK_AUDIT_SIGNING_KEY: KEY });
  expect(own.out).toMatch(connecting);
  const dev = start('worker', { AIRLOCK_ALLOW_DEV_CREDENTIALS: '1' });
  expect(dev.out).not.toMatch(refusedForCredentials);
  expect(dev.out).toMatch(connecting);
});
