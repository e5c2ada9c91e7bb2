import { createHash, type Hash } from 'node:crypto';
import type { BlobStore } from '../storage/blob-store';

interface LiveHash {
  hash: Hash;
  offset: number;
  touched: number;
}

/**
 * The running sha256 of each upload this process is receiving. Node's crypto hash is fast (it uses the
 * CPU's SHA instructions) but its state cannot be saved or shared, so it lives here, tagged with the
 * offset it covers. When a chunk arrives and the entry lags behind (chunks that went to another replica),
 * it is brought up to date by reading only the staged bytes it has not seen: replicas taking turns each
 * read the others' chunks once, so the extra reading stays linear in the blob size. Without an entry
 * (a restart, a first chunk here) the hash is rebuilt from the start (docs/performance.md).
 */
export class UploadHashes {
  private readonly live = new Map<string, LiveHash>();
  private lastPrune = Date.now();

  /** @param idleMs an entry untouched this long belongs to an upload finished or abandoned elsewhere */
  constructor(
    private readonly blobs: BlobStore,
    private readonly idleMs = 3_600_000,
  ) {}

  /** A hash covering exactly the first `offset` staged bytes of the upload. */
  async at(id: string, offset: number): Promise<Hash> {
    const entry = this.live.get(id);
    if (entry && entry.offset === offset) return entry.hash;
    this.live.delete(id);
    const from = entry && entry.offset < offset ? entry.offset : 0;
    const hash = from > 0 ? entry!.hash : createHash('sha256');
    if (offset > from) {
      // If this read fails the hash is half-advanced; it was removed from the map above, so it is dropped.
      const stream = await this.blobs.stageRead(id, offset, from);
      for await (const chunk of stream) hash.update(chunk as Buffer);
    }
    return hash;
  }

  /** Records that `hash` now covers `offset` bytes. */
  set(id: string, hash: Hash, offset: number): void {
    const now = Date.now();
    this.live.set(id, { hash, offset, touched: now });
    if (now - this.lastPrune > Math.min(this.idleMs, 60_000)) {
      this.lastPrune = now;
      for (const [k, v] of this.live) if (now - v.touched > this.idleMs) this.live.delete(k);
    }
  }

  delete(id: string): void {
    this.live.delete(id);
  }
}
