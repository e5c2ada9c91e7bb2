import { sql, type Kysely } from 'kysely';
import type { Database } from './schema';
import type { DataKeyRowRaw, HotReads } from './hot-reads';

/** Mirrors DataKeyRecord in src/storage/data-keys.ts (the catalog imports nothing from storage). */
export interface DataKeyRow {
  keyId: string;
  owner: string;
  kekId: string;
  wrapped: Buffer;
  createdAt: number;
}

type Row = Database['data_keys'] | DataKeyRowRaw;

function toRecord(r: Row): DataKeyRow {
  return {
    keyId: r.key_id,
    owner: r.owner,
    kekId: r.kek_id,
    wrapped: Buffer.from(r.wrapped),
    createdAt: Number(r.created_at),
  };
}

/**
 * Wrapped data keys of encrypted blobs, in the catalog's database (table data_keys). Reads by id and by
 * owner go through the catalog's hot-path reader: the blob store asks for them while the catalog's
 * commit transaction holds SQLite's writer connection, where a query on it would wait for itself.
 */
export class KyselyDataKeys {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly reads: () => HotReads,
  ) {}

  async insertDataKey(r: DataKeyRow): Promise<void> {
    await this.db
      .insertInto('data_keys')
      .values({ key_id: r.keyId, owner: r.owner, kek_id: r.kekId, wrapped: r.wrapped, created_at: r.createdAt })
      .execute();
  }

  async dataKey(keyId: string): Promise<DataKeyRow | undefined> {
    const [r] = await this.reads().dataKeyRows('key_id', keyId);
    return r ? toRecord(r) : undefined;
  }

  async dataKeysOf(owner: string): Promise<DataKeyRow[]> {
    return (await this.reads().dataKeyRows('owner', owner)).map(toRecord);
  }

  async setDataKeyOwner(keyId: string, owner: string): Promise<void> {
    await this.db.updateTable('data_keys').set({ owner }).where('key_id', '=', keyId).execute();
  }

  async deleteDataKey(keyId: string): Promise<void> {
    await this.db.deleteFrom('data_keys').where('key_id', '=', keyId).execute();
  }

  async deleteDataKeysOf(owner: string): Promise<number> {
    const r = await this.db.deleteFrom('data_keys').where('owner', '=', owner).executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  async dataKeysNotWrappedBy(kekId: string, limit: number): Promise<DataKeyRow[]> {
    const rows = await this.db
      .selectFrom('data_keys')
      .selectAll()
      .where('kek_id', '!=', kekId)
      .orderBy('key_id')
      .limit(limit)
      .execute();
    return rows.map(toRecord);
  }

  async rewrapDataKey(keyId: string, fromKekId: string, kekId: string, wrapped: Buffer): Promise<boolean> {
    const r = await this.db
      .updateTable('data_keys')
      .set({ kek_id: kekId, wrapped })
      .where('key_id', '=', keyId)
      .where('kek_id', '=', fromKekId)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  async dataKeyCounts(): Promise<Map<string, number>> {
    const rows = await this.db
      .selectFrom('data_keys')
      .select(['kek_id', (eb) => eb.fn.countAll<number>().as('n')])
      .groupBy('kek_id')
      .execute();
    return new Map(rows.map((r) => [r.kek_id, Number(r.n)]));
  }

  async staleDataKeys(prefix: string, before: number, limit: number): Promise<DataKeyRow[]> {
    const rows = await this.db
      .selectFrom('data_keys')
      .selectAll()
      .where(sql<string>`substr(owner, 1, ${prefix.length})`, '=', prefix)
      .where('created_at', '<', before)
      .limit(limit)
      .execute();
    return rows.map(toRecord);
  }
}
