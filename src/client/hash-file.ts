import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';

/** Large reads: hashing runs at GiB/s and small reads would make the system calls the bottleneck. */
const READ_SIZE = 1 << 20;

/** Feeds the first `length` bytes of a file (all of it when undefined) into `hash`; returns how many were read. */
export async function feedHash(
  hash: Hash,
  file: string,
  length?: number,
  onBytes?: (n: number) => void,
): Promise<number> {
  if (length === 0) return 0;
  let read = 0;
  const stream = createReadStream(file, {
    highWaterMark: READ_SIZE,
    ...(length !== undefined ? { start: 0, end: length - 1 } : {}),
  });
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    hash.update(chunk);
    read += chunk.length;
    onBytes?.(chunk.length);
  }
  return read;
}

/** The sha256 digest and size of a file, streamed: memory stays flat whatever its size. */
export async function hashFile(file: string, onBytes?: (n: number) => void): Promise<{ digest: string; size: number }> {
  const hash = createHash('sha256');
  const size = await feedHash(hash, file, undefined, onBytes);
  return { digest: `sha256:${hash.digest('hex')}`, size };
}
