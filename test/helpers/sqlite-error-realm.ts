import path from 'node:path';

/**
 * The audit-trigger puzzle, solved. better-sqlite3's native addon is loaded once per process (Node's own
 * module cache, which Jest's per-file module registries share for .node files) and keeps the SqliteError
 * class of the first test file that loaded it. Jest runs each test file in a realm of its own, so in every
 * later file the errors SQLite raises (a trigger's "append-only" among them) are not `instanceof Error`
 * there, and `expect(...).rejects.toThrow()` reports "did not throw" although SQLite refused. Which file
 * loaded it first depended on Jest's ordering, hence "sometimes". Each test file hands the addon its own
 * realm's class; production has one realm and never saw this.
 */
const root = path.dirname(require.resolve('better-sqlite3/package.json'));
const addon = require(path.join(root, 'build', 'Release', 'better_sqlite3.node')) as {
  setErrorConstructor(c: unknown): void;
  isInitialized?: boolean;
};
addon.setErrorConstructor(require(path.join(root, 'lib', 'sqlite-error.js')));
addon.isInitialized = true;
