import { runExclusive } from '../catalog/exclusive-job';
import type { BlobStore } from '../storage/blob-store';
import type { Catalog } from '../catalog/catalog';
import type { Logger } from '../observability/logger';

/** Another collector (on any replica) holds the lease. */
export class GcBusy extends Error {
  constructor() {
    super('another garbage collection is running');
    this.name = 'GcBusy';
  }
}

const LEASE_MS = 10 * 60_000;

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
  options: { dryRun?: boolean; onCollected?: (digest: string, size: number) => Promise<void> } = {},
): Promise<GcResult> {
  // One collector at a time across replicas: concurrent runs would be safe (every removal is decided
  // under the blob's lock) but would only duplicate the work.
  const r = await runExclusive(catalog, 'gc', LEASE_MS, (signal) =>
    collect(blobs, catalog, graceMs, logger, options, signal),
  );
  if (!r.ran) throw new GcBusy();
  return r.value;
}

async function collect(
  blobs: BlobStore,
  catalog: Catalog,
  graceMs: number,
  logger: Logger,
  options: { dryRun?: boolean; onCollected?: (digest: string, size: number) => Promise<void> },
  signal: AbortSignal,
): Promise<GcResult> {
  const cutoff = new Date(Date.now() - graceMs);
  const result: GcResult = { linksRemoved: 0, blobsScanned: 0, blobsRemoved: 0, bytesFreed: 0 };
  if (!options.dryRun) result.linksRemoved = await catalog.sweepLinks(cutoff);
  for await (const blob of blobs.list()) {
    // Lease lost: another replica's collector may be running; stop rather than work twice.
    signal.throwIfAborted();
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
      await options.onCollected?.(blob.digest, blob.size);
    }
  }
  logger.info({ ...result }, 'garbage collection finished');
  return result;
}
