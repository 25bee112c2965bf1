/**
 * `npm run test:cluster`: integration tests against a real Temporal server on PostgreSQL (test/cluster/), started
 * once for the run by its global setup. Not part of plain `npm test`.
 * @type {import('jest').Config}
 */
const base = require('./jest.config.js');

module.exports = {
  ...base,
  roots: ['<rootDir>/test/cluster'],
  testPathIgnorePatterns: ['/node_modules/'],
  globalSetup: '<rootDir>/test/cluster/global-setup.ts',
  globalTeardown: '<rootDir>/test/cluster/global-teardown.ts',
  // One server shared by every file: one file at a time.
  maxWorkers: 1,
  testTimeout: 120_000,
};
