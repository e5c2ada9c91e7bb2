import { randomBytes } from 'node:crypto';
import {
  SEGMENT,
  SealBroken,
  openSegment,
  openStream,
  plainSize,
  sealSegment,
  sealStream,
  sealedRange,
  sealedSize,
} from '../../src/storage/sealed-segments';

async function collect(it: AsyncIterable<Buffer>): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of it) out.push(c);
  return Buffer.concat(out);
}

async function* pieces(b: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
}

describe('sealed segments', () => {
  const key = randomBytes(32);
  const plain = randomBytes(3 * SEGMENT + 1234);

  it('seals a stream into fixed segments whatever the chunking, and opens it back', async () => {
    for (const chunk of [1000, SEGMENT, 200_000]) {
      const sealed = await collect(sealStream(key, pieces(plain, chunk)));
      expect(sealed.length).toBe(sealedSize(plain.length));
      expect(plainSize(sealed.length)).toBe(plain.length);
      expect(await collect(openStream(key, pieces(sealed, 7777), 0, 0, plain.length))).toEqual(plain);
    }
    expect(plainSize(sealedSize(SEGMENT * 2))).toBe(SEGMENT * 2);
    // 1 to 28 bytes after whole segments cannot be a sealed object.
    expect(plainSize(sealedSize(SEGMENT) + 10)).toBeUndefined();
  });

  it('opens a byte range from the segments it touches only', async () => {
    const sealed = await collect(sealStream(key, pieces(plain, 50_000)));
    for (const [start, end] of [
      [0, 0],
      [SEGMENT - 1, SEGMENT],
      [SEGMENT + 5, 3 * SEGMENT + 1233],
      [3 * SEGMENT, 3 * SEGMENT + 10],
    ] as const) {
      const r = sealedRange({ start, end }, plain.length);
      const stored = sealed.subarray(r.start, r.end + 1);
      expect(stored.length).toBeLessThanOrEqual(sealedSize(end - start + 1 + 2 * SEGMENT));
      const got = await collect(openStream(key, pieces(stored, 4096), r.first, r.skip, end - start + 1));
      expect(got).toEqual(plain.subarray(start, end + 1));
    }
    expect(() => sealedRange({ start: 0, end: plain.length }, plain.length)).toThrow(RangeError);
  });

  it('detects an altered byte, swapped segments, a cut segment, a missing end and another key', async () => {
    const sealed = await collect(sealStream(key, pieces(plain, SEGMENT)));
    const S = SEGMENT + 28;
    const altered = Buffer.from(sealed);
    altered[S + 100] ^= 1;
    await expect(collect(openStream(key, [altered], 0, 0, plain.length))).rejects.toThrow(SealBroken);

    const swapped = Buffer.concat([sealed.subarray(S, 2 * S), sealed.subarray(0, S), sealed.subarray(2 * S)]);
    await expect(collect(openStream(key, [swapped], 0, 0, plain.length))).rejects.toThrow(SealBroken);

    const cutLast = sealed.subarray(0, sealed.length - 10);
    await expect(collect(openStream(key, [cutLast], 0, 0, plain.length))).rejects.toThrow(SealBroken);

    const endMissing = sealed.subarray(0, 3 * S);
    await expect(collect(openStream(key, [endMissing], 0, 0, plain.length))).rejects.toThrow(SealBroken);

    await expect(collect(openStream(randomBytes(32), [sealed], 0, 0, plain.length))).rejects.toThrow(SealBroken);

    // Nothing unauthenticated comes out before the failure: the first segment opens, the second does not.
    const seen: Buffer[] = [];
    await expect(
      (async () => {
        for await (const c of openStream(key, [altered], 0, 0, plain.length)) seen.push(c);
      })(),
    ).rejects.toThrow(SealBroken);
    expect(Buffer.concat(seen)).toEqual(plain.subarray(0, SEGMENT));
  });

  it('binds a segment to its index and length, and never reuses a nonce', () => {
    const part = plain.subarray(0, 1000);
    const a = sealSegment(key, 5, part);
    const b = sealSegment(key, 5, part);
    expect(a.subarray(0, 12).equals(b.subarray(0, 12))).toBe(false);
    expect(openSegment(key, 5, a)).toEqual(part);
    expect(() => openSegment(key, 6, a)).toThrow(SealBroken);
    expect(() => openSegment(key, 5, a.subarray(0, a.length - 1))).toThrow(SealBroken);
    expect(() => sealSegment(key, 0, Buffer.alloc(SEGMENT + 1))).toThrow(/1 to 65536/);
    expect(() => sealSegment(randomBytes(16), 0, part)).toThrow(/32 bytes/);
  });
});
