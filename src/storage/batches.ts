import { Readable } from 'node:stream';
import { bodyBytesTaken, bodyStarted } from './body-garbage';

export interface Batch {
  chunks: Buffer[];
  bytes: number;
}

/**
 * A request body's chunks gathered into batches of at least `bytes` (the last may be smaller). A Node
 * stream is read with 'data' events, which costs one promise a batch instead of one a chunk (a socket
 * delivers 64 KiB at a time: 16,384 chunks a GiB); it is paused while two batches wait, so memory stays
 * bounded when the disk is slower than the network. A body cut short (the client went away) throws.
 */
export async function* batchesOf(source: AsyncIterable<Buffer>, bytes: number): AsyncGenerator<Batch> {
  const ended = bodyStarted();
  try {
    yield* gather(source, bytes);
  } finally {
    ended();
  }
}

async function* gather(source: AsyncIterable<Buffer>, bytes: number): AsyncGenerator<Batch> {
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
          yield { chunks, bytes: n };
          chunks = [];
          n = 0;
        }
      }
    } catch (err) {
      failure = err;
    }
    // What arrived before a failure is kept, as below.
    if (n > 0) yield { chunks, bytes: n };
    if (failure) throw failure;
    return;
  }
  const ready: Batch[] = [];
  let chunks: Buffer[] = [];
  let n = 0;
  let ended = false;
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  const onData = (c: Buffer) => {
    bodyBytesTaken(c.length);
    chunks.push(c);
    n += c.length;
    if (n < bytes) return;
    ready.push({ chunks, bytes: n });
    chunks = [];
    n = 0;
    if (ready.length >= 2) source.pause();
    wake?.();
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
        if (n > 0) yield { chunks, bytes: n };
        return;
      }
      if (failure) {
        // What arrived before the body was cut is kept (the upload resumes from there), then the failure.
        if (n > 0) {
          const partial = { chunks, bytes: n };
          chunks = [];
          n = 0;
          yield partial;
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
  }
}
