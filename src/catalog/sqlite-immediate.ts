import { CompiledQuery, SqliteDialect, type DatabaseConnection, type Driver } from 'kysely';

/**
 * SQLite with `BEGIN IMMEDIATE` transactions. Kysely begins them DEFERRED: a transaction that reads
 * and then writes while another process (a `cairn retention` or `cairn gc` beside `cairn serve`)
 * committed in between fails at once with SQLITE_BUSY_SNAPSHOT, which the busy timeout cannot wait
 * out. Taking the write lock at BEGIN makes the second writer wait its turn instead. Inside one process
 * nothing changes: Kysely already runs every query on the one writer connection.
 */
export class ImmediateSqliteDialect extends SqliteDialect {
  override createDriver(): Driver {
    const driver = super.createDriver();
    driver.beginTransaction = async (connection: DatabaseConnection) => {
      await connection.executeQuery(CompiledQuery.raw('begin immediate'));
    };
    return driver;
  }
}
