import type { Kysely } from 'kysely';
import type { Database } from '../catalog/schema';

/**
 * Blobs found corrupt (by a verified read or the scrubber). A quarantined blob is refused to readers and
 * replaced by the next push of the same digest. The set is small and read on every blob GET, so each
 * process keeps a copy refreshed every few seconds; marking or clearing here updates it at once.
 */
export class Quarantine {
  private digests = new Set<string>();
  private loadedAt = 0;
  private loading: Promise<void> | undefined;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly refreshMs = 5000,
  ) {}

  private async refresh(): Promise<void> {
    const rows = await this.db.selectFrom('quarantine').select('digest').execute();
    this.digests = new Set(rows.map((r) => r.digest));
    this.loadedAt = Date.now();
  }

  async has(digest: string): Promise<boolean> {
    if (Date.now() - this.loadedAt > this.refreshMs) {
      this.loading ??= this.refresh().finally(() => (this.loading = undefined));
      await this.loading;
    }
    return this.digests.has(digest);
  }

  async mark(digest: string, actual: string, detectedBy: string): Promise<void> {
    await this.db
      .insertInto('quarantine')
      .values({ digest, actual, detected_by: detectedBy, detected_at: Date.now() })
      .onConflict((oc) => oc.column('digest').doUpdateSet({ actual, detected_by: detectedBy, detected_at: Date.now() }))
      .execute();
    this.digests.add(digest);
  }

  async clear(digest: string): Promise<void> {
    await this.db.deleteFrom('quarantine').where('digest', '=', digest).execute();
    this.digests.delete(digest);
  }

  async list(): Promise<{ digest: string; actual: string; detectedBy: string; detectedAt: number }[]> {
    const rows = await this.db.selectFrom('quarantine').selectAll().orderBy('detected_at').execute();
    return rows.map((r) => ({
      digest: r.digest,
      actual: r.actual,
      detectedBy: r.detected_by,
      detectedAt: Number(r.detected_at),
    }));
  }
}
