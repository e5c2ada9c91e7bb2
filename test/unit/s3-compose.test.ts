import { composable } from '../../src/storage/s3-blob-store';

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
