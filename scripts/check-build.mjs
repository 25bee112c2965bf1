#!/usr/bin/env node
// After `npm run build`: the compiled CLI runs without tsx, the worker bundles workflows from dist/workflows, and
// that bundle replays every recorded history in test/histories (the same workflow code as src/; a difference in
// what it does would fail replay with a DeterminismViolationError). Run by .ci/run.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const fail = (message) => {
  console.error(`[check-build] ${message}`);
  process.exit(1);
};

// The CLI from dist/, in a process that cannot load tsx.
const noTsx = join(root, 'scripts', 'no-tsx.cjs');
for (const args of [['--help'], ['tools']]) {
  execFileSync(process.execPath, ['-r', noTsx, join(root, 'bin', 'airlock.js'), ...args], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, AIRLOCK_FROM_SOURCE: '' },
  });
}
console.log('[check-build] bin/airlock.js --help and tools run the built CLI (tsx not loadable)');

const { workflowsPath } = require(join(root, 'dist', 'src', 'worker.js'));
if (relative(root, workflowsPath) !== join('dist', 'workflows', 'index.js')) {
  fail(`the built worker bundles ${workflowsPath}, not dist/workflows/index.js`);
}
const { bundleWorkflowCode, DefaultLogger, Runtime, Worker } = require('@temporalio/worker');
Runtime.install({ logger: new DefaultLogger('WARN') });
const noop = () => undefined;
const logger = { trace: noop, debug: noop, info: noop, warn: noop, error: console.error, log: noop };
const workflowBundle = await bundleWorkflowCode({ workflowsPath, logger });

const dir = join(root, 'test', 'histories');
const files = readdirSync(dir).filter((f) => f.endsWith('.json'));
if (files.length === 0) fail(`no histories in ${dir}`);
for (const file of files) {
  const history = JSON.parse(readFileSync(join(dir, file), 'utf8'));
  // Recorded as job `history-<name>` (scripts/record-histories.ts), as in test/workflows/replay.test.ts.
  await Worker.runReplayHistory({ workflowBundle }, history, `history-${file.split('.')[0]}`);
}
console.log(`[check-build] the workflow bundle from dist/workflows replays all ${files.length} recorded histories`);
