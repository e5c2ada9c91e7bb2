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
 * With several bodies arriving at once the interval grows by 2 MiB a body: before chunks were copied
 * into reused batch buffers (storage/batches.ts), a chunk waited for its own body's batch while the
 * others' bytes arrived, and a fixed 4 MiB moved it to the old generation (20 concurrent 50 MiB pushes
 * took 4.2 to 5.7 s of CPU with a fixed 4 MiB, 3.1 to 5.6 with no collections, 3.5 to 4.9 with the
 * growing interval). The copy made the two intervals alike; the growing one collects less often.
 */
const MIN_EVERY = 4 * 1024 * 1024;
const PER_BODY = 2 * 1024 * 1024;

let since = 0;
let bodies = 0;
let collect: (() => void) | null | undefined;

function collector(): (() => void) | null {
  if (collect === undefined) {
    try {
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

/** A request body starts being taken in; the returned function says it ended. */
export function bodyStarted(): () => void {
  bodies++;
  let ended = false;
  return () => {
    if (ended) return;
    ended = true;
    bodies--;
  };
}

/** Counts request body bytes taken in; every few MiB the chunks already handled are collected. */
export function bodyBytesTaken(bytes: number): void {
  since += bytes;
  if (since < Math.max(MIN_EVERY, bodies * PER_BODY)) return;
  since = 0;
  collector()?.();
}
