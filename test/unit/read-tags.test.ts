import { createHash, randomBytes } from 'node:crypto';
import { parseDigest, type ParsedDigest } from '../../src/oci/digest';
import { ReadTags, digestCheck } from '../../src/distribution/read-tags';

const digestOf = (b: Buffer) => parseDigest(`sha256:${createHash('sha256').update(b).digest('hex')}`);

/**
 * Reads `bytes` (fed in uneven chunks) as the blob `d`, through `tags` or, without them, digestCheck;
 * each report goes to `reports` ('match', or 'mismatch ' and what was found). Says how the read ended.
 */
function read(tags: ReadTags | undefined, d: ParsedDigest, bytes: Buffer, reports: string[] = []): 'match' | 'refused' {
  const onMismatch = (actual: string) => void reports.push(`mismatch ${actual}`);
  const onMatch = () => void reports.push('match');
  const check = tags ? tags.check(d, bytes.length, onMismatch, onMatch) : digestCheck(d, onMismatch, onMatch);
  for (let i = 0; i < bytes.length; i += 70_001) check.update(bytes.subarray(i, i + 70_001));
  try {
    check.finish();
    return 'match';
  } catch {
    return 'refused';
  }
}

const flipped = (b: Buffer, at: number, bits = 1) => {
  const copy = Buffer.from(b);
  copy[at]! ^= bits;
  return copy;
};

describe('ReadTags', () => {
  it('proves the first read against the digest, then checks later reads against its tag', () => {
    const tags = new ReadTags();
    const data = randomBytes(2_000_000);
    const d = digestOf(data);
    const seen: string[] = [];
    expect(read(tags, d, data, seen)).toBe('match');
    expect(read(tags, d, data, seen)).toBe('match');
    expect(seen).toEqual(['match', 'match']);
    // One flipped bit after the proof: the tag check refuses it, says so, and forgets the tag.
    const altered = flipped(data, 123_456);
    expect(read(tags, d, altered, seen)).toBe('refused');
    expect(seen[2]).toMatch(/differ from those this process verified/);
    // Forgotten: the next read is hashed again, and its digest is what is reported.
    expect(read(tags, d, altered, seen)).toBe('refused');
    expect(seen[3]).toBe(`mismatch ${digestOf(altered).value}`);
    expect(read(tags, d, data, seen)).toBe('match');
  });

  it('keeps no tag for bytes that fail the digest, nor for another size', () => {
    const tags = new ReadTags();
    const data = randomBytes(1_500_000);
    const d = digestOf(data);
    const wrong = randomBytes(1_500_000);
    const reports: string[] = [];
    expect(read(tags, d, wrong, reports)).toBe('refused');
    // Had the wrong bytes been tagged, this read of them would pass: it is hashed, and refused.
    expect(read(tags, d, wrong, reports)).toBe('refused');
    expect(reports).toEqual([`mismatch ${digestOf(wrong).value}`, `mismatch ${digestOf(wrong).value}`]);
    expect(read(tags, d, data)).toBe('match');
    // A shorter read of the same blob is not compared with the whole blob's tag: it is hashed (and refused).
    expect(read(tags, d, data.subarray(0, 10))).toBe('refused');
  });

  it('a tag of one process does not pass in another (the key is never stored)', () => {
    const data = randomBytes(1_100_000);
    const d = digestOf(data);
    expect(read(new ReadTags(), d, data)).toBe('match');
    // Another process has no tag: it hashes (reporting the digest on a mismatch), whatever the first proved.
    const reports: string[] = [];
    const altered = flipped(data, 0, 0xff);
    expect(read(new ReadTags(), d, altered, reports)).toBe('refused');
    expect(reports).toEqual([`mismatch ${digestOf(altered).value}`]);
  });

  it('holds a bounded number of tags, the least recently proven leaving first', () => {
    const tags = new ReadTags(2);
    const size = 1024 * 1024;
    const blobs = [randomBytes(size), randomBytes(size), randomBytes(size)];
    for (const b of blobs) expect(read(tags, digestOf(b), b)).toBe('match');
    // The first blob's tag was dropped: a read of altered bytes is hashed again and reports a digest
    // (with its tag kept, the report would be the tag's).
    const reports: string[] = [];
    const altered = flipped(blobs[0]!, 0);
    expect(read(tags, digestOf(blobs[0]!), altered, reports)).toBe('refused');
    expect(reports).toEqual([`mismatch ${digestOf(altered).value}`]);
    // The last proven keeps its tag.
    expect(read(tags, digestOf(blobs[2]!), flipped(blobs[2]!, 5), reports)).toBe('refused');
    expect(reports[1]).toMatch(/differ from those this process verified/);
  });

  it('hashes every read of a blob under 1 MiB (no tag kept)', () => {
    const tags = new ReadTags();
    const data = randomBytes(1024 * 1024 - 1);
    const d = digestOf(data);
    expect(read(tags, d, data)).toBe('match');
    const reports: string[] = [];
    const altered = flipped(data, 9);
    expect(read(tags, d, altered, reports)).toBe('refused');
    expect(reports).toEqual([`mismatch ${digestOf(altered).value}`]);
  });

  it('digestCheck hashes every read', () => {
    const data = randomBytes(30_000);
    const d = digestOf(data);
    expect(read(undefined, d, data)).toBe('match');
    const bad: string[] = [];
    expect(read(undefined, d, Buffer.alloc(30_000), bad)).toBe('refused');
    expect(bad).toEqual([`mismatch ${digestOf(Buffer.alloc(30_000)).value}`]);
  });
});
