import { composable, copyRanges, partSizeFor } from '../../src/storage/s3-multipart';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

describe('when staged S3 segments can be composed server-side', () => {
  it('composes chunks of at least 5 MiB (the last may be smaller)', () => {
    expect(composable([16 * MiB, 16 * MiB, 3])).toBe(true);
    expect(composable([5 * MiB, 1])).toBe(true);
  });
  it('streams through when a chunk other than the last is under S3 part minimum', () => {
    expect(composable([4 * MiB, 16 * MiB])).toBe(false);
  });
  it('composes a single segment larger than the 5 GiB copy limit (split into part copies)', () => {
    expect(composable([100 * GiB])).toBe(true);
  });
  it('streams through when the compose would need more than 10 000 parts', () => {
    expect(composable(Array(6400).fill(16 * MiB))).toBe(true); // 100 GiB in 16 MiB chunks
    expect(composable(Array(12_800).fill(8 * MiB))).toBe(false); // 100 GiB in 8 MiB chunks
    expect(composable(Array(10_000).fill(6 * MiB))).toBe(true);
    expect(composable(Array(10_001).fill(6 * MiB))).toBe(false);
  });
});

describe('the parts S3 writes are numbered and sized so that nothing is lost', () => {
  it('copies a source in ranges of at most 5 GiB that cover it exactly, in order', () => {
    for (const size of [1, 5 * MiB, 600 * MiB, GiB, 5 * GiB, 5 * GiB + 1, 11 * GiB + 7, 100 * GiB]) {
      const ranges = copyRanges(size);
      expect(ranges[0]!.start).toBe(0);
      expect(ranges[ranges.length - 1]!.end).toBe(size - 1);
      for (let i = 1; i < ranges.length; i++) expect(ranges[i]!.start).toBe(ranges[i - 1]!.end + 1);
      for (const r of ranges) expect(r.end - r.start + 1).toBeLessThanOrEqual(5 * GiB);
      if (ranges.length > 1) for (const r of ranges) expect(r.end - r.start + 1).toBeGreaterThanOrEqual(5 * MiB);
    }
    // The case minio's composeObject got wrong: one source of 1 GiB is one part, not two parts both numbered 1.
    expect(copyRanges(GiB)).toEqual([{ start: 0, end: GiB - 1 }]);
    expect(copyRanges(11 * GiB)).toHaveLength(3);
  });
  it('grows streamed parts so that 10 000 of them reach past 2 TiB', () => {
    let total = 0;
    for (let n = 1; n <= 10_000; n++) total += partSizeFor(n);
    expect(total).toBeGreaterThan(2 * 1024 * GiB);
    expect(partSizeFor(1)).toBe(8 * MiB);
    for (let n = 1; n <= 10_000; n++) expect(partSizeFor(n)).toBeLessThanOrEqual(5 * GiB);
  });
});
