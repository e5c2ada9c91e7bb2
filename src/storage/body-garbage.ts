import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * Request bodies arrive as 64 KiB socket chunks, each its own buffer outside V8's heap behind a wrapper
 * of a few dozen bytes inside it. V8 times its young-generation collections by those wrapper bytes, so
 * a push leaves tens of megabytes of dead chunks waiting, and the external memory they add up to starts
 * full mark-compacts of the whole heap instead: in a 1 GiB push, 36 of them a GiB, about a second of
 * CPU, or none, depending on the size the young generation happened to have when the push began (the
 * server CPU per GiB of a push was 2.6 to 3.8 s in one state, 1.1 to 1.5 in the other; docs/performance.md).
 * Collecting the young generation after every 4 MiB of body, a fraction of a millisecond each time
 * because nearly all of it is dead, frees the chunks at once and keeps the collector in the cheap state.
 * The interval is the same however many bodies arrive at once: since chunks are copied into reused batch
 * buffers as they arrive (storage/batches.ts), none waits for its own body's batch. An interval that grew
 * by 2 MiB a body (needed before that copy) held up to 40 MiB of dead chunks with 20 concurrent pushes:
 * the benchmark's 20 x 50 MiB pushes peaked at 176-181 MB against 146 with the fixed one, in the same
 * CPU (3.0-3.5 s against 3.0-3.3).
 */
const EVERY = 4 * 1024 * 1024;

let since = 0;
let collect: (() => void) | null | undefined;

function collector(): (() => void) | null {
  if (collect === undefined) {
    try {
      // A young collection in the middle of a push finds that push's request, stream and promise objects
      // alive, many times over; V8's allocation-site pretenuring takes that as proof that whatever those
      // code sites allocate lives long, and from then on allocates it straight in the old generation,
      // for every request. After a 1 GiB chunked push, manifest GETs filled the old generation with
      // garbage: 4 MB promoted a scavenge, a mark-compact every 0.3 s, peak RSS 206-212 MB against 137
      // (docs/performance.md, "Memory"). Without pretenuring, they stay young and die there.
      setFlagsFromString('--no-allocation-site-pretenuring');
      // `gc` appears only in contexts created after the flag; the main context stays as it was.
      setFlagsFromString('--expose-gc');
      const gc = runInNewContext('gc') as (options: { type: 'minor' | 'major' }) => void;
      collect = () => gc({ type: 'minor' });
    } catch {
      collect = null;
    }
  }
  return collect;
}

/** Counts request body bytes taken in; every few MiB the chunks already handled are collected. */
export function bodyBytesTaken(bytes: number): void {
  since += bytes;
  if (since < EVERY) return;
  since = 0;
  collector()?.();
}
