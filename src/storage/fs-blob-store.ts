import { mkdir, open, readdir, rename, rm, stat, unlink, writeFile, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { DIGEST_ALGORITHMS, tryParseDigest, type ParsedDigest } from '../oci/digest';
import { STAGE_ID, assertStageId, storedDigest } from './keys';
import { batchesOf, type Batch } from './batches';
import {
  BlobNotFound,
  StoredSizeMismatch,
  StageOffsetMismatch,
  type AppendResult,
  type BlobInfo,
  type BlobStore,
  type ByteRange,
  type PendingBlob,
  type StagedUpload,
} from './blob-store';
import { writeThroughStaging } from './staged-write';

/**
 * Network reads arrive in 16–64 KiB pieces; writing them in larger batches saves system calls. 256 KiB
 * pushes as fast as 1 MiB did, and 20 concurrent uploads hold a third of the memory (docs/performance.md).
 */
const BATCH_BYTES = 256 * 1024;
const READ_CHUNK = 1024 * 1024;
/**
 * The send ring: 8 × 256 KiB keeps reads ahead of the socket while the ring stays small enough to sit in
 * the CPU caches (measured here: larger chunks were no faster, and 4 MiB chunks were slower at first).
 */
const SEND_CHUNK = 256 * 1024;
const SEND_BUFFERS = 8;

function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'ENOENT';
}

/** Opens a file, turning "no such file" into BlobNotFound(key). */
async function openOrNotFound(file: string, flags: string, key: string): Promise<FileHandle> {
  try {
    return await open(file, flags);
  } catch (err) {
    if (isMissing(err)) throw new BlobNotFound(key);
    throw err;
  }
}

async function writeAll(fh: FileHandle, buffers: Buffer[], position: number): Promise<void> {
  let total = 0;
  for (const b of buffers) total += b.length;
  const { bytesWritten } = await fh.writev(buffers, position);
  if (bytesWritten === total) return;
  // A short write (rare: signals, some file systems): finish the rest piece by piece.
  let rest = Buffer.concat(buffers, total).subarray(bytesWritten);
  let at = position + bytesWritten;
  while (rest.length > 0) {
    const r = await fh.write(rest, 0, rest.length, at);
    rest = rest.subarray(r.bytesWritten);
    at += r.bytesWritten;
  }
}

/**
 * Blobs on a local file system: `<root>/<algorithm>/<2 hex>/<hex>`, uploads staged in `<root>/_staging/<id>`
 * and renamed into place once verified. A rename within one file system is atomic, so a digest path
 * holds either nothing or the whole, verified blob.
 */
export class FsBlobStore implements BlobStore {
  readonly kind = 'fs';
  private readonly staging: string;

  constructor(private readonly root: string) {
    this.staging = path.join(root, '_staging');
  }

  private blobPath(digest: ParsedDigest): string {
    return path.join(this.root, digest.algorithm, digest.hex.slice(0, 2), digest.hex);
  }

  private stagePath(id: string): string {
    assertStageId(id);
    return path.join(this.staging, id);
  }

  async init(): Promise<void> {
    await mkdir(this.staging, { recursive: true });
  }

  async close(): Promise<void> {}

  async stat(digest: string): Promise<BlobInfo | undefined> {
    try {
      const st = await stat(this.blobPath(storedDigest(digest)));
      return { digest, size: st.size };
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  async read(digest: string, range?: ByteRange): Promise<Readable> {
    const fh = await openOrNotFound(this.blobPath(storedDigest(digest)), 'r', digest);
    return fh.createReadStream({
      start: range?.start ?? 0,
      end: range?.end,
      highWaterMark: READ_CHUNK,
      autoClose: true,
    });
  }

  /**
   * Reads into a ring of reused buffers and writes each to `out`, reading the next chunk while earlier
   * ones are on their way; a buffer is reused only once its write has completed. Compared with a read
   * stream (a fresh 1 MiB buffer per chunk) this spares the allocator and the page faults of a blob's
   * worth of new memory, which is most of the server's CPU on a pull.
   */
  async sendTo(
    digest: string,
    range: ByteRange | undefined,
    out: NodeJS.WritableStream,
    beforeWrite?: (chunk: Buffer, last: boolean) => void,
  ): Promise<void> {
    const fh = await openOrNotFound(this.blobPath(storedDigest(digest)), 'r', digest);
    const ring = Array.from({ length: SEND_BUFFERS }, () => Buffer.allocUnsafeSlow(SEND_CHUNK));
    const inflight: (Promise<void> | undefined)[] = new Array(SEND_BUFFERS);
    let closed: Error | undefined;
    const onClose = () => (closed ??= new Error('client closed the connection'));
    out.once('close', onClose);
    try {
      const end = range ? range.end + 1 : (await fh.stat()).size;
      let pos = range ? range.start : 0;
      for (let i = 0; pos < end; i = (i + 1) % SEND_BUFFERS) {
        await inflight[i];
        if (closed) throw closed;
        const { bytesRead } = await fh.read(ring[i]!, 0, Math.min(SEND_CHUNK, end - pos), pos);
        if (bytesRead === 0) throw new Error(`blob ${digest} is shorter than expected`);
        pos += bytesRead;
        const chunk = bytesRead === SEND_CHUNK ? ring[i]! : ring[i]!.subarray(0, bytesRead);
        beforeWrite?.(chunk, pos >= end);
        inflight[i] = new Promise<void>((resolve, reject) => {
          out.write(chunk, (err?: Error | null) => (err ? reject(err) : resolve()));
        });
        // A write that fails is seen when its buffer comes round again, or at the end.
        inflight[i]!.catch(() => undefined);
      }
      await Promise.all(inflight);
    } finally {
      out.removeListener('close', onClose);
      await fh.close();
    }
  }

  async delete(digest: string): Promise<boolean> {
    try {
      await unlink(this.blobPath(storedDigest(digest)));
      return true;
    } catch (err) {
      if (isMissing(err)) return false;
      throw err;
    }
  }

  async *list(): AsyncIterable<{ digest: string; size: number; modifiedAt: Date }> {
    for (const algorithm of Object.keys(DIGEST_ALGORITHMS)) {
      const algoDir = path.join(this.root, algorithm);
      for (const fan of await readdir(algoDir).catch(() => [] as string[])) {
        for (const hex of await readdir(path.join(algoDir, fan)).catch(() => [] as string[])) {
          const digest = `${algorithm}:${hex}`;
          if (!tryParseDigest(digest)) continue;
          const st = await stat(path.join(algoDir, fan, hex)).catch(() => undefined);
          if (st) yield { digest, size: st.size, modifiedAt: st.mtime };
        }
      }
    }
  }

  async stageCreate(id: string): Promise<void> {
    await writeFile(this.stagePath(id), '', { flag: 'wx' });
  }

  async stageSize(id: string): Promise<number | undefined> {
    try {
      return (await stat(this.stagePath(id))).size;
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw err;
    }
  }

  async stageAppend(
    id: string,
    offset: number,
    source: AsyncIterable<Buffer>,
    onWritten: (chunk: Buffer) => void,
  ): Promise<AppendResult> {
    const fh = await openOrNotFound(this.stagePath(id), 'r+', id);
    try {
      const size = (await fh.stat()).size;
      if (size !== offset) throw new StageOffsetMismatch(size, offset);
      return await this.appendFrom(fh, offset, source, onWritten);
    } finally {
      await fh.close();
    }
  }

  /**
   * Receives and writes at the same time: one batch is being written while the next is collected, so the
   * disk and the network overlap. `size` only moves when a write completed, and onWritten sees each chunk
   * right after, in order: the caller's hash always covers exactly the bytes on disk.
   */
  private async appendFrom(
    fh: FileHandle,
    offset: number,
    source: AsyncIterable<Buffer>,
    onWritten: (chunk: Buffer) => void,
  ): Promise<AppendResult> {
    let size = offset;
    let inflight: Promise<void> | undefined;
    let writeError: Error | undefined;
    // At most one write is in flight, and it is awaited before the next starts, so `size` is its position.
    const start = (batch: Batch) => {
      inflight = writeAll(fh, batch.chunks, size).then(
        () => {
          for (const c of batch.chunks) onWritten(c);
          size += batch.bytes;
          batch.release();
        },
        (err: Error) => {
          writeError = err;
          batch.release();
        },
      );
    };
    let sourceError: Error | undefined;
    try {
      for await (const batch of batchesOf(source, BATCH_BYTES)) {
        await inflight;
        if (writeError) {
          batch.release();
          break;
        }
        start(batch);
      }
    } catch (err) {
      // The client went away: keep what arrived, so the upload can resume from there.
      sourceError = err as Error;
    }
    await inflight;
    if (writeError) {
      // The disk refused (full?): drop whatever part of the failed write landed, back to the last good size.
      await fh.truncate(size).catch(() => undefined);
      return { size, error: writeError, failed: 'store' };
    }
    return sourceError ? { size, error: sourceError, failed: 'source' } : { size };
  }

  async stageRead(id: string, end?: number, start = 0): Promise<Readable> {
    const fh = await openOrNotFound(this.stagePath(id), 'r', id);
    if (end !== undefined && end <= start) {
      await fh.close();
      return Readable.from([]);
    }
    return fh.createReadStream({
      start,
      end: end === undefined ? undefined : end - 1,
      highWaterMark: READ_CHUNK,
      autoClose: true,
    });
  }

  async stageCommit(id: string, digest: string, size: number): Promise<BlobInfo> {
    const from = this.stagePath(id);
    const to = this.blobPath(storedDigest(digest));
    let staged;
    try {
      staged = await stat(from);
    } catch (err) {
      if (isMissing(err)) throw new BlobNotFound(id);
      throw err;
    }
    if (staged.size !== size) throw new StoredSizeMismatch(`staged upload ${id}`, size, staged.size);
    const existing = await stat(to).catch(() => undefined);
    if (existing?.size === size) {
      // Same digest, same bytes: keep the stored copy.
      await rm(from, { force: true });
      return { digest, size };
    }
    // Absent, or stored wrong (another size): the verified staged bytes take its place atomically.
    await mkdir(path.dirname(to), { recursive: true });
    await rename(from, to);
    return { digest, size };
  }

  async stageTruncate(id: string, size: number): Promise<void> {
    const fh = await openOrNotFound(this.stagePath(id), 'r+', id);
    try {
      const current = (await fh.stat()).size;
      if (size > current) throw new StageOffsetMismatch(current, size);
      if (size < current) await fh.truncate(size);
    } finally {
      await fh.close();
    }
  }

  async stageDelete(id: string): Promise<void> {
    await rm(this.stagePath(id), { force: true });
  }

  async *stageList(): AsyncIterable<StagedUpload> {
    for (const id of await readdir(this.staging).catch(() => [] as string[])) {
      if (!STAGE_ID.test(id)) continue;
      const st = await stat(path.join(this.staging, id)).catch(() => undefined);
      if (st) yield { id, size: st.size, modifiedAt: st.mtime };
    }
  }

  writeBlob(digest: string, source: AsyncIterable<Buffer>, onWritten: (chunk: Buffer) => void): Promise<PendingBlob> {
    storedDigest(digest);
    return writeThroughStaging(this, digest, source, onWritten);
  }
}
