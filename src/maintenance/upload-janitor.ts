import type { BlobStore } from '../storage/blob-store';
import type { UploadSessionStore } from '../sessions/upload-session-store';
import type { UploadHashes } from '../sessions/upload-hashes';
import type { Logger } from '../observability/logger';
import { schedulePeriodic, type LeaseStore } from '../catalog/exclusive-job';

/**
 * Removes the staged bytes of uploads whose session expired (or never existed, after a crash), once
 * they have been idle for the configured time. A staged upload that is being written keeps a fresh
 * modification time, so a long chunk is never swept from under its writer.
 */
export async function sweepExpiredUploads(
  blobs: BlobStore,
  sessions: UploadSessionStore,
  idleMs: number,
  logger: Logger,
  hashes?: UploadHashes,
): Promise<number> {
  const cutoff = Date.now() - idleMs;
  let removed = 0;
  for await (const staged of blobs.stageList()) {
    if (staged.modifiedAt.getTime() >= cutoff) continue;
    if (await sessions.get(staged.id)) continue;
    await blobs.stageDelete(staged.id);
    hashes?.delete(staged.id);
    removed++;
  }
  // Monolithic pushes a killed process left half-written in their final place (S3 multipart uploads).
  removed += (await blobs.sweepUnfinished?.(idleMs)) ?? 0;
  if (removed > 0) logger.info({ removed }, 'removed expired uploads');
  return removed;
}

/**
 * Runs the sweep every `intervalMs` until stopped, one replica at a time; a failed sweep is logged and
 * retried next time.
 */
export function startUploadJanitor(
  leases: LeaseStore,
  blobs: BlobStore,
  sessions: UploadSessionStore,
  hashes: UploadHashes,
  idleMs: number,
  intervalMs: number,
  logger: Logger,
): () => Promise<void> {
  return schedulePeriodic(leases, {
    name: 'upload-janitor',
    everyMs: intervalMs,
    leaseMs: Math.max(30_000, intervalMs),
    onError: (err) => logger.warn({ err }, 'upload janitor failed'),
    pass: async () => void (await sweepExpiredUploads(blobs, sessions, idleMs, logger, hashes)),
  });
}
