#!/usr/bin/env node
// Runs the compiled CLI (dist/, from `npm run build`). Without a build, a checkout with its devDependencies runs the
// TypeScript in src/ through tsx, so `npx airlock` works in a fresh clone; an install without them (tsx is a
// devDependency) says to build instead of failing on a missing module. AIRLOCK_FROM_SOURCE=1 always runs src/ (the
// tests, so a stale dist/ is never what they test).
const { existsSync } = require('node:fs');
const { join } = require('node:path');

const built = join(__dirname, '..', 'dist', 'src', 'cli.js');

function tsxInstalled() {
  try {
    require.resolve('tsx/cjs');
    return true;
  } catch {
    return false;
  }
}

if (process.env.AIRLOCK_FROM_SOURCE !== '1' && existsSync(built)) {
  require(built).main();
} else if (tsxInstalled()) {
  require('tsx/cjs');
  require('../src/cli.ts').main();
} else {
  console.error(
    'airlock is not built: run `npm run build` (or `npm install` with devDependencies to run src/ via tsx)',
  );
  process.exit(1);
}
