/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': [
      '@swc/jest',
      { jsc: { target: 'es2022', parser: { syntax: 'typescript' } }, module: { type: 'commonjs' } },
    ],
    // otplib's dependencies ship only ES modules; Node loads them with require(esm), Jest's loader needs them as CommonJS.
    '^.+/node_modules/(@scure|@noble)/.+\\.js$': [
      '@swc/jest',
      { jsc: { target: 'es2022' }, module: { type: 'commonjs' } },
    ],
  },
  transformIgnorePatterns: ['/node_modules/(?!@scure/|@noble/)'],
  testTimeout: 120000,
  // better-sqlite3's errors are Errors of each test file's own realm (see the file).
  setupFiles: ['<rootDir>/test/helpers/sqlite-error-realm.ts'],
  globalSetup: '<rootDir>/test/helpers/global-setup.ts',
  globalTeardown: '<rootDir>/test/helpers/global-teardown.ts',
};
