import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

/**
 * The sealed format of a blob's bytes at rest (issue 16): the plaintext cut into 64 KiB segments, each
 * sealed on its own with AES-256-GCM under the blob's data key, stored as nonce ‖ ciphertext ‖ tag.
 *
 * - Every segment but the last holds exactly 64 KiB, so plaintext byte `p` lies in segment
 *   `p / 64 KiB` at a fixed stored offset: a Range read opens only the segments it touches.
 * - The additional data is the segment's index and its plaintext length: a segment moved to another
 *   place, or cut short, does not open. A segment from another blob does not open either (another key).
 *   A blob cut at a segment boundary opens segment by segment; its stored size then disagrees with the
 *   size the catalog holds, which is how such a cut is found (as for plaintext blobs).
 * - Nonces are random, not counters: a staged upload whose last segment was short re-seals that segment
 *   when more bytes arrive, and a counter would seal two plaintexts under one nonce.
 */
export const SEGMENT = 64 * 1024;
const NONCE = 12;
const TAG = 16;
export const SEGMENT_OVERHEAD = NONCE + TAG;
export const SEALED_SEGMENT = SEGMENT + SEGMENT_OVERHEAD;

/** A sealed segment that does not open: altered, moved, cut short, or sealed under another key. */
export class SealBroken extends Error {
  constructor(readonly segment: number) {
    super(`sealed segment ${segment} does not authenticate`);
    this.name = 'SealBroken';
  }
}

function additionalData(index: number, length: number): Buffer {
  const aad = Buffer.alloc(12);
  aad.writeBigUInt64BE(BigInt(index), 0);
  aad.writeUInt32BE(length, 8);
  return aad;
}

function checkKey(key: Buffer): void {
  if (key.length !== 32) throw new Error('a data key is 32 bytes (AES-256)');
}

/** Seals one segment (at most 64 KiB of plaintext) at its index. */
export function sealSegment(key: Buffer, index: number, plain: Buffer): Buffer {
  checkKey(key);
  if (plain.length === 0 || plain.length > SEGMENT) throw new Error(`a segment holds 1 to ${SEGMENT} bytes`);
  const nonce = randomBytes(NONCE);
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  cipher.setAAD(additionalData(index, plain.length));
  const body = cipher.update(plain);
  cipher.final();
  return Buffer.concat([nonce, body, cipher.getAuthTag()]);
}

/** Opens one sealed segment found at `index`; throws SealBroken when it does not authenticate there. */
export function openSegment(key: Buffer, index: number, sealed: Buffer): Buffer {
  checkKey(key);
  if (sealed.length <= SEGMENT_OVERHEAD || sealed.length > SEALED_SEGMENT) throw new SealBroken(index);
  const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, NONCE));
  decipher.setAAD(additionalData(index, sealed.length - SEGMENT_OVERHEAD));
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG));
  const plain = decipher.update(sealed.subarray(NONCE, sealed.length - TAG));
  try {
    decipher.final();
  } catch {
    throw new SealBroken(index);
  }
  return plain;
}

/** How many bytes `plain` bytes take sealed. */
export function sealedSize(plain: number): number {
  return plain + Math.ceil(plain / SEGMENT) * SEGMENT_OVERHEAD;
}

/** How many plaintext bytes a sealed object of `sealed` bytes holds, or undefined for an impossible size. */
export function plainSize(sealed: number): number | undefined {
  const full = Math.floor(sealed / SEALED_SEGMENT);
  const rest = sealed - full * SEALED_SEGMENT;
  if (rest === 0) return full * SEGMENT;
  if (rest <= SEGMENT_OVERHEAD) return undefined;
  return full * SEGMENT + rest - SEGMENT_OVERHEAD;
}

/**
 * Where an inclusive plaintext byte range lies sealed: the stored bytes [start, end] to read (whole
 * segments), the index of the first, and how many plaintext bytes of it come before the range.
 */
export function sealedRange(
  range: { start: number; end: number },
  plain: number,
): { start: number; end: number; first: number; skip: number } {
  if (range.start < 0 || range.end < range.start || range.end >= plain) throw new RangeError('range outside the blob');
  const first = Math.floor(range.start / SEGMENT);
  const last = Math.floor(range.end / SEGMENT);
  return {
    start: first * SEALED_SEGMENT,
    end: Math.min((last + 1) * SEALED_SEGMENT, sealedSize(plain)) - 1,
    first,
    skip: range.start - first * SEGMENT,
  };
}

/** A sealed segment, with the plaintext it carries that came from the source (not from the prefix). */
export interface SealedPiece {
  sealed: Buffer;
  plain: Buffer;
}

/**
 * Seals a plaintext stream as segments from `firstIndex` on (a staged upload continues at its end),
 * after `prefix`: the plaintext of a short last segment that is sealed again with what follows. When the
 * source fails, what did arrive is sealed as a short segment before the error is passed on, so an
 * upload keeps every byte it received. A segment that lies whole in one chunk is sealed where it lies.
 */
export async function* sealSegments(
  key: Buffer,
  source: AsyncIterable<Buffer> | Iterable<Buffer>,
  firstIndex = 0,
  prefix?: Buffer,
): AsyncGenerator<SealedPiece> {
  let index = firstIndex;
  let pending: Buffer[] = prefix?.length ? [prefix] : [];
  let n = prefix?.length ?? 0;
  let carried = n;
  const seal = (): SealedPiece => {
    const plain = pending.length === 1 ? pending[0]! : Buffer.concat(pending, n);
    const piece = { sealed: sealSegment(key, index++, plain), plain: plain.subarray(carried) };
    carried = 0;
    pending = [];
    n = 0;
    return piece;
  };
  try {
    for await (const chunk of source) {
      let off = 0;
      while (off < chunk.length) {
        const take = Math.min(SEGMENT - n, chunk.length - off);
        pending.push(chunk.subarray(off, off + take));
        n += take;
        off += take;
        if (n === SEGMENT) yield seal();
      }
    }
  } catch (err) {
    if (n > 0) yield seal();
    throw err;
  }
  if (n > 0) yield seal();
}

/** Seals a plaintext stream as segments from `firstIndex` on. */
export async function* sealStream(
  key: Buffer,
  source: AsyncIterable<Buffer> | Iterable<Buffer>,
  firstIndex = 0,
): AsyncGenerator<Buffer> {
  for await (const piece of sealSegments(key, source, firstIndex)) yield piece.sealed;
}

/**
 * Opens a stream of sealed bytes that starts at segment `first`, yielding `length` plaintext bytes after
 * skipping `skip`. Throws SealBroken at the first segment that does not open, and when the stream ends
 * before `length` bytes: nothing unauthenticated is ever yielded.
 */
export async function* openStream(
  key: Buffer,
  source: AsyncIterable<Buffer> | Iterable<Buffer>,
  first: number,
  skip: number,
  length: number,
): AsyncGenerator<Buffer> {
  let index = first;
  let left = length;
  let toSkip = skip;
  let pending: Buffer[] = [];
  let n = 0;
  const emit = function* (sealed: Buffer): Generator<Buffer> {
    let plain = openSegment(key, index++, sealed);
    if (toSkip > 0) {
      const cut = Math.min(toSkip, plain.length);
      plain = plain.subarray(cut);
      toSkip -= cut;
    }
    if (plain.length > left) plain = plain.subarray(0, left);
    left -= plain.length;
    if (plain.length > 0) yield plain;
  };
  for await (const chunk of source) {
    let off = 0;
    while (off < chunk.length && left > 0) {
      // A whole segment inside the chunk opens where it lies: no copy into a pending buffer.
      if (n === 0 && chunk.length - off >= SEALED_SEGMENT) {
        yield* emit(chunk.subarray(off, off + SEALED_SEGMENT));
        off += SEALED_SEGMENT;
        continue;
      }
      const take = Math.min(SEALED_SEGMENT - n, chunk.length - off);
      pending.push(chunk.subarray(off, off + take));
      n += take;
      off += take;
      if (n === SEALED_SEGMENT) {
        yield* emit(Buffer.concat(pending, n));
        pending = [];
        n = 0;
      }
    }
    if (left === 0) return;
  }
  if (n > 0 && left > 0) yield* emit(Buffer.concat(pending, n));
  if (left > 0) throw new SealBroken(index);
}
