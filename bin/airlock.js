#!/usr/bin/env node
// Runs the TypeScript CLI through tsx, so `npx airlock` works without a build step.
require('tsx/cjs');
require('../src/cli.ts').main();
