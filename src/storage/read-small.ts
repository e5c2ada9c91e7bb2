import type { BlobStore } from './blob-store';

/**
 * Reads a small stored blob whole (a config, a signature bundle), or undefined when it is larger than
 * `max`: such documents are parsed in memory, and a blob that claims to be one must not make the
 * registry buffer gigabytes.
 */
export async function readSmallBlob(store: BlobStore, digest: string, max: number): Promise<Buffer | undefined> {
  const parts: Buffer[] = [];
  let total = 0;
  for await (const chunk of await store.read(digest)) {
    total += (chunk as Buffer).length;
    if (total > max) return undefined;
    parts.push(chunk as Buffer);
  }
  return Buffer.concat(parts);
}
