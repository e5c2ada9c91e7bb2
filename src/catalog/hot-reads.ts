import type BetterSqlite3 from 'better-sqlite3';
import type { Pool } from 'pg';

export interface ManifestRow {
  digest: string;
  media_type: string;
  size: number | string;
  content: Buffer;
  stage: string | null;
  stage_reason: string | null;
}

/**
 * The reads on the registry's hot paths (manifest GET, blob GET/HEAD), run as statements prepared once
 * instead of through the query builder, which compiles and (on SQLite) prepares on every call.
 */
export interface HotReads {
  manifestByTag(repository: string, tag: string): Promise<ManifestRow | undefined>;
  manifestByDigest(repository: string, digest: string): Promise<ManifestRow | undefined>;
  blobLinkSize(repository: string, digest: string): Promise<number | undefined>;
  /**
   * Wrapped data keys (src/catalog/kysely-data-keys.ts). Read here because a blob store reads them while
   * committing, inside the catalog's transaction that holds SQLite's one writer connection.
   */
  dataKeyRows(column: 'key_id' | 'owner', value: string): Promise<DataKeyRowRaw[]>;
  close(): Promise<void>;
}

export interface DataKeyRowRaw {
  key_id: string;
  owner: string;
  kek_id: string;
  wrapped: Buffer;
  created_at: number | string;
}

const BY_TAG = `select m.digest, m.media_type, m.size, m.content, a.stage, a.stage_reason
  from repositories r join tags t on t.repository_id = r.id
  join manifests m on m.repository_id = r.id and m.digest = t.digest
  left join artifacts a on a.repository_id = m.repository_id and a.digest = m.digest
  where r.name = $1 and t.name = $2`;
const BY_DIGEST = `select m.digest, m.media_type, m.size, m.content, a.stage, a.stage_reason
  from repositories r join manifests m on m.repository_id = r.id
  left join artifacts a on a.repository_id = m.repository_id and a.digest = m.digest
  where r.name = $1 and m.digest = $2`;
const KEY_BY_ID = `select key_id, owner, kek_id, wrapped, created_at from data_keys where key_id = $1`;
const KEYS_BY_OWNER = `select key_id, owner, kek_id, wrapped, created_at from data_keys where owner = $1 order by key_id`;
const LINK = `select rb.size from repositories r join repository_blobs rb on rb.repository_id = r.id
  where r.name = $1 and rb.digest = $2`;

/**
 * SQLite: a second, read-only connection. It sees only committed data (WAL readers never block the writer
 * nor see its open transaction), whereas the writer's connection is shared with transactions in flight.
 */
export function sqliteHotReads(reader: BetterSqlite3.Database): HotReads {
  const q = (text: string) => reader.prepare(text.replace(/\$\d/g, '?'));
  const byTag = q(BY_TAG);
  const byDigest = q(BY_DIGEST);
  const link = q(LINK);
  const keyById = q(KEY_BY_ID);
  const keysByOwner = q(KEYS_BY_OWNER);
  return {
    dataKeyRows: async (column, value) => (column === 'key_id' ? keyById : keysByOwner).all(value) as DataKeyRowRaw[],
    manifestByTag: async (r, t) => byTag.get(r, t) as ManifestRow | undefined,
    manifestByDigest: async (r, d) => byDigest.get(r, d) as ManifestRow | undefined,
    blobLinkSize: async (r, d) => (link.get(r, d) as { size: number } | undefined)?.size,
    close: async () => {
      reader.close();
    },
  };
}

/** PostgreSQL: named statements, prepared once per pooled connection. */
export function postgresHotReads(pool: Pool): HotReads {
  const one = async <T>(name: string, text: string, values: string[]): Promise<T | undefined> =>
    (await pool.query({ name, text, values })).rows[0] as T | undefined;
  return {
    manifestByTag: (r, t) => one<ManifestRow>('cairn_manifest_by_tag', BY_TAG, [r, t]),
    manifestByDigest: (r, d) => one<ManifestRow>('cairn_manifest_by_digest', BY_DIGEST, [r, d]),
    blobLinkSize: async (r, d) => {
      const row = await one<{ size: string }>('cairn_blob_link', LINK, [r, d]);
      return row ? Number(row.size) : undefined;
    },
    dataKeyRows: async (column, value) =>
      (
        await pool.query({
          name: column === 'key_id' ? 'cairn_key_by_id' : 'cairn_keys_by_owner',
          text: column === 'key_id' ? KEY_BY_ID : KEYS_BY_OWNER,
          values: [value],
        })
      ).rows as DataKeyRowRaw[],
    close: async () => {},
  };
}
