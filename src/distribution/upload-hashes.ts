import { createHash, type Hash } from 'node:crypto';
import type { BlobStore } from '../storage/blob-store';

interface LiveHash {
  hash: Hash;
  offset: number;
}

/**
 * The running sha256 of each upload this process is receiving. Node's crypto hash is fast but its state
 * cannot be saved, so it lives here, tagged with the offset it covers. When a chunk arrives and the
 * entry is missing or covers another offset (a restart, or chunks that went to another replica), the
 * hash is rebuilt from the staged bytes: correct whichever replica a chunk reaches, at the cost of one
 * re-read (docs/performance.md).
 */
export class UploadHashes {
  private readonly live = new Map<string, LiveHash>();

  constructor(private readonly blobs: BlobStore) {}

  /** A hash covering exactly the first `offset` staged bytes of the upload. */
  async at(id: string, offset: number): Promise<Hash> {
    const entry = this.live.get(id);
    if (entry && entry.offset === offset) return entry.hash;
    this.live.delete(id);
    const hash = createHash('sha256');
    if (offset > 0) {
      const stream = await this.blobs.stageRead(id, offset);
      for await (const chunk of stream) hash.update(chunk as Buffer);
    }
    return hash;
  }

  /** Records that `hash` now covers `offset` bytes. */
  set(id: string, hash: Hash, offset: number): void {
    this.live.set(id, { hash, offset });
  }

  delete(id: string): void {
    this.live.delete(id);
  }
}
