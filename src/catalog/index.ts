import { mkdirSync } from 'node:fs';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, PostgresDialect } from 'kysely';
import type { Catalog } from './catalog';
import type { Database } from './schema';
import { KyselyCatalog } from './kysely-catalog';
import { ImmediateSqliteDialect } from './sqlite-immediate';
import { withStatementCache } from './sqlite-statements';
import { postgresHotReads, sqliteHotReads } from './hot-reads';
import type { ArtifactIndex } from './artifact-index';
import { KyselyArtifactIndex } from './kysely-artifact-index';
import { KyselyDataKeys } from './kysely-data-keys';
import { KyselyReplicationState, type ReplicationStateStore } from './kysely-replication-state';

/** Replication positions live in the catalog's database. */
export function createReplicationState(catalog: Catalog): ReplicationStateStore {
  if (catalog instanceof KyselyCatalog) return new KyselyReplicationState(catalog.db);
  throw new Error(`no replication state for catalog ${catalog.kind}`);
}

/** The wrapped data keys of encrypted blobs live in the catalog's database too. */
export function createDataKeyStore(catalog: Catalog): KyselyDataKeys {
  if (catalog instanceof KyselyCatalog) return new KyselyDataKeys(catalog.db, () => catalog.hotReads);
  throw new Error(`no data key store for catalog ${catalog.kind}`);
}

/** The artifact index lives in the catalog's database, on the catalog's own connection. */
export function createArtifactIndex(catalog: Catalog, options: { selectiveBelow?: number } = {}): ArtifactIndex {
  if (catalog instanceof KyselyCatalog) return new KyselyArtifactIndex(catalog.db, options.selectiveBelow);
  throw new Error(`no artifact index for catalog ${catalog.kind}`);
}

function sqliteConnection(file: string, readonly: boolean): BetterSqlite3.Database {
  const db = new BetterSqlite3(file, { readonly, fileMustExist: readonly });
  db.pragma('busy_timeout = 5000');
  if (!readonly) {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
  }
  db.pragma('foreign_keys = ON');
  return db;
}

/**
 * `sqlite:///absolute/path/cairn.db` (the embedded default) or `postgres://user@host:port/db` (the
 * PostgreSQL driver is loaded only then).
 */
export function createCatalog(url: string, options: { readOnly?: boolean } = {}): Catalog {
  if (url.startsWith('sqlite://')) {
    if (options.readOnly) throw new Error('a read-only region reads a PostgreSQL hot standby, not SQLite');
    const file = path.resolve(decodeURIComponent(url.slice('sqlite://'.length)));
    mkdirSync(path.dirname(file), { recursive: true });
    const writer = sqliteConnection(file, false);
    const db = new Kysely<Database>({ dialect: new ImmediateSqliteDialect({ database: withStatementCache(writer) }) });
    return new KyselyCatalog('sqlite', db, () => sqliteHotReads(sqliteConnection(file, true)));
  }
  if (/^postgres(ql)?:\/\//.test(url)) {
    const pg = require('pg') as typeof import('pg');
    // bigint (int8) columns hold millisecond timestamps and sizes, all well inside 2^53.
    pg.types.setTypeParser(20, (v: string) => Number(v));
    const pool = new pg.Pool({ connectionString: url, max: 10 });
    // An idle connection the server closes (restart, failover) must not crash the registry; the pool
    // replaces it on the next query.
    pool.on('error', () => undefined);
    // A connection that dies while checked out (a query in flight when PostgreSQL restarts) emits 'error'
    // on its client, where node-postgres has no listener: the process would crash. The query itself
    // fails with the same error, and the pool replaces the client.
    pool.on('connect', (client) => client.on('error', () => undefined));
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    return new KyselyCatalog('postgres', db, () => postgresHotReads(pool), options.readOnly);
  }
  throw new Error(`unsupported database: ${url}`);
}
