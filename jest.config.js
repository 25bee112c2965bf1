// Processes the tests spawn through bin/airlock.js run src/ (through tsx), never a dist/ that may be stale.
process.env.AIRLOCK_FROM_SOURCE = '1';

/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // test/cluster runs against a real Temporal cluster on PostgreSQL (`npm run test:cluster`, jest.cluster.config.js);
  // the fault suite has its own config and script (jest.faults.config.js, `npm run test:faults`).
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/cluster/', '<rootDir>/test/faults/'],
  // Finds (or starts) the tests' PostgreSQL, so a plain `npm test` works after a reboot or on a fresh machine.
  globalSetup: '<rootDir>/test/global-setup.ts',
  transform: { '^.+\\.(t|j)sx?$': ['@swc/jest', { jsc: { target: 'es2022' }, module: { type: 'commonjs' } }] },
  // ESM-only packages are compiled to CommonJS for jest (Node itself loads them with require(esm)); @fastify/cookie
  // loads the ESM `cookie` with a dynamic import(), which swc turns into a require for jest (content-disposition
  // is nested under @fastify/static: every node_modules level of a path must be let through).
  transformIgnorePatterns: [
    '/node_modules/(?!(@marcbachmann/cel-js|@fastify/cookie|cookie|@fastify/static|content-disposition)/)',
  ],
  // Integration tests start real Temporal servers and child processes; 2 cores, so 2 workers.
  maxWorkers: 2,
  testTimeout: 60_000,
};
