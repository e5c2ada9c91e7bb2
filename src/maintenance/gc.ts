import type { BlobStore } from '../storage/blob-store';
import type { Catalog } from '../catalog/catalog';
import type { Logger } from '../http/logger';

export interface GcResult {
  linksRemoved: number;
  blobsScanned: number;
  blobsRemoved: number;
  bytesFreed: number;
}

/**
 * Reclaims blob bytes nothing refers to. Safe while the registry serves: it only removes links and blobs
 * untouched for `graceMs` (a push in progress touches what it relies on), and each blob is removed under
 * its catalog lock, so a concurrent upload or mount of the same digest waits and then re-creates it.
 * Open uploads are staged apart from blobs and never collected here.
 */
export async function collectGarbage(
  blobs: BlobStore,
  catalog: Catalog,
  graceMs: number,
  logger: Logger,
  options: { dryRun?: boolean } = {},
): Promise<GcResult> {
  const cutoff = new Date(Date.now() - graceMs);
  const result: GcResult = { linksRemoved: 0, blobsScanned: 0, blobsRemoved: 0, bytesFreed: 0 };
  if (!options.dryRun) result.linksRemoved = await catalog.sweepLinks(cutoff);
  for await (const blob of blobs.list()) {
    result.blobsScanned++;
    if (blob.modifiedAt >= cutoff) continue;
    const collected = options.dryRun
      ? false
      : await catalog.collectBlob(blob.digest, cutoff, async () => {
          await blobs.delete(blob.digest);
        });
    if (collected) {
      result.blobsRemoved++;
      result.bytesFreed += blob.size;
      logger.debug({ digest: blob.digest, size: blob.size }, 'collected blob');
    }
  }
  logger.info({ ...result }, 'garbage collection finished');
  return result;
}
