/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.(t|j)sx?$': ['@swc/jest', { jsc: { target: 'es2022' } }] },
  // Integration tests start real Temporal servers and child processes; 2 cores, so 2 workers.
  maxWorkers: 2,
  testTimeout: 60_000,
};
