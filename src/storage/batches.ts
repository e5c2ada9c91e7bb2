import { Readable } from 'node:stream';
import { bodyBytesTaken } from './body-garbage';

export interface Batch {
  chunks: Buffer[];
  bytes: number;
  /** The batch was written and its chunks seen: its buffer may hold the next batch's bytes. */
  release(): void;
}

const noRelease = () => undefined;

/**
 * Batch buffers, reused: a socket chunk is copied into one as it arrives and dies young, instead of
 * living until its batch is written, by which time, with many bodies arriving at once, a young
 * collection has moved it to the old generation, where only a full mark-compact frees it.
 */
const pool: Buffer[] = [];
const POOL_MAX = 64;

function takeBuffer(bytes: number): Buffer {
  const b = pool.pop();
  return b && b.length === bytes ? b : Buffer.allocUnsafeSlow(bytes);
}

function pooledBatch(buf: Buffer, n: number): Batch {
  let released = false;
  return {
    chunks: [buf.subarray(0, n)],
    bytes: n,
    release: () => {
      if (released) return;
      released = true;
      if (pool.length < POOL_MAX) pool.push(buf);
    },
  };
}

/**
 * A request body's chunks gathered into batches of `bytes` (the last may be smaller). A Node stream is
 * read with 'data' events, which costs one promise a batch instead of one a chunk (a socket delivers
 * 64 KiB at a time: 16,384 chunks a GiB), copied into a reused buffer of `bytes` (above); it is paused
 * while two batches wait, so memory stays bounded when the disk is slower than the network. A body cut
 * short (the client went away) throws. The consumer calls `release()` once it is done with a batch.
 */
export async function* batchesOf(source: AsyncIterable<Buffer>, bytes: number): AsyncGenerator<Batch> {
  if (!(source instanceof Readable)) {
    let chunks: Buffer[] = [];
    let n = 0;
    let failure: unknown;
    try {
      for await (const c of source) {
        bodyBytesTaken(c.length);
        chunks.push(c);
        n += c.length;
        if (n >= bytes) {
          yield { chunks, bytes: n, release: noRelease };
          chunks = [];
          n = 0;
        }
      }
    } catch (err) {
      failure = err;
    }
    // What arrived before a failure is kept, as below.
    if (n > 0) yield { chunks, bytes: n, release: noRelease };
    if (failure) throw failure;
    return;
  }
  const ready: Batch[] = [];
  let buf: Buffer | undefined;
  let n = 0;
  let ended = false;
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const onData = (c: Buffer) => {
    bodyBytesTaken(c.length);
    for (let off = 0; off < c.length;) {
      buf ??= takeBuffer(bytes);
      const k = c.copy(buf, n, off);
      n += k;
      off += k;
      if (n < bytes) continue;
      ready.push(pooledBatch(buf, n));
      buf = undefined;
      n = 0;
    }
    if (ready.length === 0) return;
    if (ready.length >= 2) source.pause();
    wake?.();
  };
  const rest = () => {
    const partial = pooledBatch(buf!, n);
    buf = undefined;
    n = 0;
    return partial;
  };
  const onEnd = () => {
    ended = true;
    wake?.();
  };
  const onError = (err: Error) => {
    failure ??= err;
    wake?.();
  };
  // A stream closed before its end (the client went away) never emits 'end'.
  const onClose = () => onError(Object.assign(new Error('aborted'), { code: 'ECONNRESET' }));
  source.on('data', onData);
  source.once('end', onEnd);
  source.on('error', onError);
  source.once('close', onClose);
  try {
    for (;;) {
      const next = ready.shift();
      if (next) {
        if (ready.length < 2 && source.isPaused() && !ended) source.resume();
        yield next;
        continue;
      }
      if (ended) {
        if (n > 0) yield rest();
        return;
      }
      if (failure) {
        // What arrived before the body was cut is kept (the upload resumes from there), then the failure.
        if (n > 0) {
          yield rest();
          continue;
        }
        throw failure;
      }
      await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
    }
  } finally {
    source.off('data', onData);
    source.off('end', onEnd);
    source.off('error', onError);
    source.off('close', onClose);
    // Left early (the store failed): the body is left paused for the error response to drain or cut.
    if (!ended && !failure) source.pause();
    for (const b of ready.splice(0)) b.release();
  }
}
