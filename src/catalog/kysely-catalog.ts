import { Kysely, sql, type ExpressionBuilder, type Transaction } from 'kysely';
import type { Database } from './schema';
import type { HotReads } from './hot-reads';
import { checkSchema, migrate, type Dialect } from './migrations';
import { insertArtifact } from './artifact-rows';
import {
  MissingReferences,
  type BlobRef,
  type Catalog,
  type IssuedManifest,
  type ManifestRecord,
  type Page,
  type ReferrerDescriptor,
  type StoredManifest,
} from './catalog';

type Db = Kysely<Database> | Transaction<Database>;

/** The one Catalog implementation: Kysely queries that run unchanged on SQLite and PostgreSQL. */
export class KyselyCatalog implements Catalog {
  constructor(
    readonly kind: Dialect,
    /** Shared with the identity store: one SQLite connection may not be opened twice for writing. */
    readonly db: Kysely<Database>,
    private readonly openHotReads: () => HotReads,
    /** A hot standby: no migrations (the primary runs them), only a check that the schema is this version's. */
    private readonly readOnly = false,
  ) {}

  private hot!: HotReads;

  /** The hot-path reader (committed data, never the writer's connection), for stores sharing the database. */
  get hotReads(): HotReads {
    return this.hot;
  }

  async init(): Promise<void> {
    if (this.readOnly) await checkSchema(this.db);
    else await migrate(this.db, this.kind);
    this.hot = this.openHotReads();
  }

  async close(): Promise<void> {
    await this.hot?.close();
    await this.db.destroy();
  }

  private repositoryId(db: Db, name: string) {
    return db.selectFrom('repositories').select('id').where('name', '=', name);
  }

  private async ensureRepository(db: Db, name: string): Promise<number> {
    await db
      .insertInto('repositories')
      .values({ name, created_at: Date.now() })
      .onConflict((oc) => oc.column('name').doNothing())
      .execute();
    const row = await this.repositoryId(db, name).executeTakeFirstOrThrow();
    return Number(row.id);
  }

  async repositoryExists(name: string): Promise<boolean> {
    return (await this.repositoryId(this.db, name).executeTakeFirst()) !== undefined;
  }

  async listRepositories(page: Page): Promise<string[]> {
    let q = this.db
      .selectFrom('repositories as r')
      .select('r.name')
      .where(({ or, exists, selectFrom }) =>
        or([
          exists(
            selectFrom('manifests as m')
              .select(sql`1`.as('one'))
              .whereRef('m.repository_id', '=', 'r.id'),
          ),
          exists(
            selectFrom('repository_blobs as rb')
              .select(sql`1`.as('one'))
              .whereRef('rb.repository_id', '=', 'r.id'),
          ),
        ]),
      )
      .orderBy('r.name');
    if (page.last !== undefined) q = q.where('r.name', '>', page.last);
    if (page.n !== undefined) q = q.limit(page.n);
    return (await q.execute()).map((r) => r.name);
  }

  async linkBlob(repository: string, blob: BlobRef, commit?: () => Promise<void>): Promise<void> {
    await this.db.transaction().execute((trx) => this.linkBlobIn(trx, repository, blob, commit));
  }

  private async linkBlobIn(
    db: Transaction<Database>,
    repository: string,
    blob: BlobRef,
    commit?: () => Promise<void>,
  ): Promise<void> {
    const now = Date.now();
    // First, so that this transaction holds the blob's row (and the collector waits) while commit runs.
    await db
      .insertInto('blobs')
      .values({ digest: blob.digest, size: blob.size, touched_at: now })
      .onConflict((oc) => oc.column('digest').doUpdateSet({ touched_at: now, size: blob.size }))
      .execute();
    if (commit) await commit();
    const repositoryId = await this.ensureRepository(db, repository);
    await db
      .insertInto('repository_blobs')
      .values({ repository_id: repositoryId, digest: blob.digest, size: blob.size, touched_at: now })
      .onConflict((oc) => oc.columns(['repository_id', 'digest']).doUpdateSet({ touched_at: now }))
      .execute();
  }

  async putIssued(entries: IssuedManifest[]): Promise<void> {
    if (entries.length === 0) return;
    await this.db.transaction().execute(async (trx) => {
      for (const e of entries) {
        for (const b of e.blobs) await this.linkBlobIn(trx, e.repository, b.ref, b.commit);
        await this.putManifestIn(trx, e.repository, e.manifest);
      }
    });
  }

  async getBlobLink(repository: string, digest: string): Promise<BlobRef | undefined> {
    const size = await this.hot.blobLinkSize(repository, digest);
    return size === undefined ? undefined : { digest, size: Number(size) };
  }

  async unlinkBlob(repository: string, digest: string): Promise<boolean> {
    const r = await this.db
      .deleteFrom('repository_blobs')
      .where('repository_id', '=', this.repositoryId(this.db, repository))
      .where('digest', '=', digest)
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async blobUsage(digest: string): Promise<{
    linkedIn: string[];
    manifests: { repository: string; digest: string; tags: string[] }[];
  }> {
    const linked = await this.db
      .selectFrom('repository_blobs as rb')
      .innerJoin('repositories as r', 'r.id', 'rb.repository_id')
      .select('r.name')
      .where('rb.digest', '=', digest)
      .orderBy('r.name')
      .execute();
    const rows = await this.db
      .selectFrom('manifest_blobs as mb')
      .innerJoin('repositories as r', 'r.id', 'mb.repository_id')
      .leftJoin('tags as t', (j) =>
        j.onRef('t.repository_id', '=', 'mb.repository_id').onRef('t.digest', '=', 'mb.manifest_digest'),
      )
      .select(['r.name as repository', 'mb.manifest_digest as digest', 't.name as tag'])
      .where('mb.blob_digest', '=', digest)
      .orderBy('r.name')
      .orderBy('mb.manifest_digest')
      .execute();
    const manifests = new Map<string, { repository: string; digest: string; tags: string[] }>();
    for (const r of rows) {
      const key = `${r.repository}@${r.digest}`;
      const m = manifests.get(key) ?? { repository: r.repository, digest: r.digest, tags: [] };
      if (r.tag) m.tags.push(r.tag);
      manifests.set(key, m);
    }
    return { linkedIn: linked.map((r) => r.name), manifests: [...manifests.values()] };
  }

  async putManifest(repository: string, m: ManifestRecord, tag?: string): Promise<void> {
    await this.db.transaction().execute((trx) => this.putManifestIn(trx, repository, m, tag));
  }

  private async putManifestIn(
    db: Transaction<Database>,
    repository: string,
    m: ManifestRecord,
    tag?: string,
  ): Promise<void> {
    const now = Date.now();
    const repositoryId = await this.ensureRepository(db, repository);
    const blobs = [...new Set(m.blobs)];
    const children = [...new Set(m.manifests)].filter((d) => d !== m.digest);
    let missingBlobs: string[] = [];
    if (blobs.length > 0) {
      // Touching the links is what keeps the collector off them (docs/architecture.md).
      const touched = await db
        .updateTable('repository_blobs')
        .set({ touched_at: now })
        .where('repository_id', '=', repositoryId)
        .where('digest', 'in', blobs)
        .executeTakeFirst();
      if (Number(touched.numUpdatedRows) !== blobs.length) {
        const present = await db
          .selectFrom('repository_blobs')
          .select('digest')
          .where('repository_id', '=', repositoryId)
          .where('digest', 'in', blobs)
          .execute();
        const have = new Set(present.map((r) => r.digest));
        missingBlobs = blobs.filter((d) => !have.has(d));
      }
    }
    let missingManifests: string[] = [];
    if (children.length > 0) {
      const present = await db
        .selectFrom('manifests')
        .select('digest')
        .where('repository_id', '=', repositoryId)
        .where('digest', 'in', children)
        .execute();
      const have = new Set(present.map((r) => r.digest));
      missingManifests = children.filter((d) => !have.has(d));
    }
    if (!m.lazy && (missingBlobs.length > 0 || missingManifests.length > 0))
      throw new MissingReferences(missingBlobs, missingManifests);

    const inserted = await db
      .insertInto('manifests')
      .values({
        repository_id: repositoryId,
        digest: m.digest,
        media_type: m.mediaType,
        size: m.size,
        content: m.content,
        artifact_type: m.artifactType ?? null,
        subject_digest: m.subject ?? null,
        annotations: m.annotations && Object.keys(m.annotations).length > 0 ? JSON.stringify(m.annotations) : null,
        created_at: now,
      })
      .onConflict((oc) => oc.columns(['repository_id', 'digest']).doNothing())
      .executeTakeFirst();
    if (Number(inserted.numInsertedOrUpdatedRows ?? 0) > 0) {
      if (blobs.length > 0) {
        await db
          .insertInto('manifest_blobs')
          .values(blobs.map((b) => ({ repository_id: repositoryId, manifest_digest: m.digest, blob_digest: b })))
          .onConflict((oc) => oc.doNothing())
          .execute();
      }
      if (children.length > 0) {
        await db
          .insertInto('manifest_children')
          .values(children.map((c) => ({ repository_id: repositoryId, manifest_digest: m.digest, child_digest: c })))
          .onConflict((oc) => oc.doNothing())
          .execute();
      }
      if (m.artifact) await insertArtifact(db, repositoryId, repository, m.digest, m.artifact, now);
    }
    if (tag !== undefined) {
      await db
        .insertInto('tags')
        .values({ repository_id: repositoryId, name: tag, digest: m.digest, updated_at: now })
        .onConflict((oc) => oc.columns(['repository_id', 'name']).doUpdateSet({ digest: m.digest, updated_at: now }))
        .execute();
    }
  }

  async getManifest(repository: string, reference: string): Promise<StoredManifest | undefined> {
    const row = reference.includes(':')
      ? await this.hot.manifestByDigest(repository, reference)
      : await this.hot.manifestByTag(repository, reference);
    return row
      ? {
          digest: row.digest,
          mediaType: row.media_type,
          size: Number(row.size),
          content: row.content,
          ...(row.stage ? { stage: row.stage } : {}),
          ...(row.stage_reason ? { stageReason: row.stage_reason } : {}),
        }
      : undefined;
  }

  async deleteManifest(repository: string, digest: string): Promise<boolean> {
    // Tags, blob references and child references go with it (foreign keys, ON DELETE CASCADE).
    const r = await this.db
      .deleteFrom('manifests')
      .where('repository_id', '=', this.repositoryId(this.db, repository))
      .where('digest', '=', digest)
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async deleteTag(repository: string, tag: string): Promise<boolean> {
    const r = await this.db
      .deleteFrom('tags')
      .where('repository_id', '=', this.repositoryId(this.db, repository))
      .where('name', '=', tag)
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async listTags(repository: string, page: Page): Promise<string[]> {
    let q = this.db
      .selectFrom('tags')
      .select('name')
      .where('repository_id', '=', this.repositoryId(this.db, repository))
      .orderBy('name');
    if (page.last !== undefined) q = q.where('name', '>', page.last);
    if (page.n !== undefined) q = q.limit(page.n);
    return (await q.execute()).map((r) => r.name);
  }

  async tagsOf(repository: string, digest: string): Promise<string[]> {
    const rows = await this.db
      .selectFrom('tags')
      .select('name')
      .where('repository_id', '=', this.repositoryId(this.db, repository))
      .where('digest', '=', digest)
      .orderBy('name')
      .execute();
    return rows.map((r) => r.name);
  }

  async listReferrers(repository: string, subject: string, artifactType?: string): Promise<ReferrerDescriptor[]> {
    let q = this.db
      .selectFrom('manifests')
      .select(['digest', 'media_type', 'size', 'artifact_type', 'annotations'])
      .where('repository_id', '=', this.repositoryId(this.db, repository))
      .where('subject_digest', '=', subject)
      .orderBy('created_at')
      .orderBy('digest');
    if (artifactType !== undefined) q = q.where('artifact_type', '=', artifactType);
    return (await q.execute()).map((r) => ({
      mediaType: r.media_type,
      digest: r.digest,
      size: Number(r.size),
      ...(r.artifact_type ? { artifactType: r.artifact_type } : {}),
      ...(r.annotations ? { annotations: JSON.parse(r.annotations) as Record<string, string> } : {}),
    }));
  }

  async acquireLease(name: string, holder: string, ttlMs: number): Promise<boolean> {
    const now = Date.now();
    const row = await this.db
      .insertInto('leases')
      .values({ name, holder, expires_at: now + ttlMs })
      .onConflict((oc) =>
        oc
          .column('name')
          .doUpdateSet({ holder, expires_at: now + ttlMs })
          .where((eb) => eb.or([eb('leases.expires_at', '<', now), eb('leases.holder', '=', holder)])),
      )
      .returning('holder')
      .executeTakeFirst();
    return row?.holder === holder;
  }

  async releaseLease(name: string, holder: string): Promise<void> {
    await this.db.deleteFrom('leases').where('name', '=', name).where('holder', '=', holder).execute();
  }

  async readCursor(name: string): Promise<number | undefined> {
    const row = await this.db.selectFrom('job_cursors').select('position').where('name', '=', name).executeTakeFirst();
    return row === undefined ? undefined : Number(row.position);
  }

  async writeCursor(name: string, position: number): Promise<void> {
    const now = Date.now();
    await this.db
      .insertInto('job_cursors')
      .values({ name, position, updated_at: now })
      .onConflict((oc) => oc.column('name').doUpdateSet({ position, updated_at: now }))
      .execute();
  }

  /**
   * On PostgreSQL a DELETE's re-check under a row lock does not see rows other transactions inserted
   * meanwhile (its subqueries keep the statement's snapshot). So the collector locks its candidates
   * first, then re-checks them in a new statement, which sees every transaction that held those rows
   * before. SQLite has one writer at a time, and a write transaction always reads the latest state.
   */
  async sweepLinks(cutoff: Date): Promise<number> {
    const c = cutoff.getTime();
    const unreferenced = ({ not, exists, selectFrom }: ExpressionBuilder<Database, 'repository_blobs'>) =>
      not(
        exists(
          selectFrom('manifest_blobs as mb')
            .select(sql`1`.as('one'))
            .whereRef('mb.repository_id', '=', 'repository_blobs.repository_id')
            .whereRef('mb.blob_digest', '=', 'repository_blobs.digest'),
        ),
      );
    if (this.kind === 'sqlite') {
      const r = await this.db
        .deleteFrom('repository_blobs')
        .where('touched_at', '<', c)
        .where(unreferenced)
        .executeTakeFirst();
      return Number(r.numDeletedRows);
    }
    return this.db.transaction().execute(async (trx) => {
      const candidates = await trx
        .selectFrom('repository_blobs')
        .select(['repository_id', 'digest'])
        .where('touched_at', '<', c)
        .where(unreferenced)
        .forUpdate()
        .execute();
      let removed = 0;
      for (const row of candidates) {
        const r = await trx
          .deleteFrom('repository_blobs')
          .where('repository_id', '=', row.repository_id)
          .where('digest', '=', row.digest)
          .where('touched_at', '<', c)
          .where(unreferenced)
          .executeTakeFirst();
        removed += Number(r.numDeletedRows);
      }
      return removed;
    });
  }

  async collectBlob(digest: string, cutoff: Date, remove: () => Promise<void>): Promise<boolean> {
    // A blob the catalog never saw (a crash between storing and linking) gets a row to lock on.
    await this.db
      .insertInto('blobs')
      .values({ digest, size: 0, touched_at: 0 })
      .onConflict((oc) => oc.column('digest').doNothing())
      .execute();
    return this.db.transaction().execute(async (trx) => {
      // Take the blob's lock first (the row lock on PostgreSQL, the write lock on SQLite), then decide with
      // reads that see whatever an upload or mount committed before we got it.
      const locked =
        this.kind === 'postgres'
          ? await trx
              .selectFrom('blobs')
              .select('touched_at')
              .where('digest', '=', digest)
              .forUpdate()
              .executeTakeFirst()
          : await trx
              .updateTable('blobs')
              .set({ touched_at: sql`touched_at` })
              .where('digest', '=', digest)
              .returning('touched_at')
              .executeTakeFirst();
      if (!locked || Number(locked.touched_at) >= cutoff.getTime()) return false;
      const linked = await trx
        .selectFrom('repository_blobs')
        .select('digest')
        .where('digest', '=', digest)
        .limit(1)
        .executeTakeFirst();
      if (linked) return false;
      await trx.deleteFrom('blobs').where('digest', '=', digest).execute();
      await remove();
      return true;
    });
  }
}
