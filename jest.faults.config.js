// The fault suite (npm run test:faults): test/faults/*.test.ts on the real Temporal dev server, outcomes counted as
// side effects on local stand-ins. Its own config so `npm test` stays quick; .ci/run runs both and adds the counts.
const base = require('./jest.config.js');

/** @type {import('jest').Config} */
module.exports = {
  ...base,
  roots: ['<rootDir>/test/faults'],
  testPathIgnorePatterns: [],
  // Each file starts its own Temporal server and kills processes: one file at a time on 2 cores.
  maxWorkers: 1,
  testTimeout: 180_000,
  // The files run in one process, and handles some leave behind (keep-alive sockets to stand-ins that were cut, pool
  // reconnects to a proxy that went down) kept jest from exiting after every test had passed. Servers and processes
  // the tests start are stopped by the tests themselves; this only ends the run.
  forceExit: true,
};
