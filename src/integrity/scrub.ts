import { onRoute } from '../storage/route-context';
import { createHash } from 'node:crypto';
import { SealBroken } from '../storage/sealed-segments';
import { setTimeout as sleep } from 'node:timers/promises';
import { tryParseDigest } from '../oci/digest';
import type { BlobStore } from '../storage/blob-store';

export interface ScrubResult {
  checked: number;
  bytes: number;
  corrupt: { digest: string; actual: string }[];
  seconds: number;
}

/**
 * Re-hashes every stored blob, like fsck: each one read in full and compared with the digest it is
 * stored under, at most `bytesPerSecond` (0: as fast as the storage gives). `onCorrupt` is called for
 * each mismatch as it is found.
 */
export async function scrubBlobs(
  blobs: BlobStore,
  options: {
    bytesPerSecond?: number;
    onCorrupt?: (digest: string, actual: string) => Promise<void>;
    onChecked?: (bytes: number) => void;
    signal?: AbortSignal;
  } = {},
): Promise<ScrubResult> {
  const started = Date.now();
  const result: ScrubResult = { checked: 0, bytes: 0, corrupt: [], seconds: 0 };
  const rate = options.bytesPerSecond ?? 0;
  for await (const blob of blobs.list()) {
    if (options.signal?.aborted) break;
    const parsed = tryParseDigest(blob.digest);
    if (!parsed) continue;
    const hash = createHash(parsed.algorithm);
    let n = 0;
    try {
      // With storage routes, each route's copy is read where it lies.
      const route = (blob as { route?: string }).route;
      const open = () => blobs.read(blob.digest);
      for await (const chunk of await (route ? onRoute(route, open) : open())) {
        hash.update(chunk as Buffer);
        n += (chunk as Buffer).length;
      }
    } catch (err) {
      // Sealed bytes that do not open are corrupt like bytes that hash wrong; anything else means the
      // blob was collected while we looked.
      if (!(err instanceof SealBroken)) continue;
      result.checked++;
      const actual = `(${err.message})`;
      result.corrupt.push({ digest: parsed.value, actual });
      await options.onCorrupt?.(parsed.value, actual);
      continue;
    }
    const actual = `${parsed.algorithm}:${hash.digest('hex')}`;
    result.checked++;
    result.bytes += n;
    options.onChecked?.(n);
    if (actual !== parsed.value) {
      result.corrupt.push({ digest: parsed.value, actual });
      await options.onCorrupt?.(parsed.value, actual);
    }
    if (rate > 0) {
      // Pace to the rate: sleep until the bytes read so far are due.
      const due = (result.bytes / rate) * 1000 - (Date.now() - started);
      if (due > 0) await sleep(Math.min(due, 60_000), undefined, { signal: options.signal }).catch(() => undefined);
    }
  }
  result.seconds = (Date.now() - started) / 1000;
  return result;
}
