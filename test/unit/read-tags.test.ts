import { createHash, randomBytes } from 'node:crypto';
import { parseDigest } from '../../src/oci/digest';
import { ReadTags, digestCheck, type ReadCheck } from '../../src/distribution/read-tags';

const digestOf = (b: Buffer) => parseDigest(`sha256:${createHash('sha256').update(b).digest('hex')}`);

/** Feeds `data` in uneven chunks and reports how the check ended. */
function run(check: ReadCheck, data: Buffer): 'match' | 'refused' {
  for (let i = 0; i < data.length; i += 70_001) check.update(data.subarray(i, i + 70_001));
  try {
    check.finish();
    return 'match';
  } catch {
    return 'refused';
  }
}

describe('ReadTags', () => {
  it('proves the first read against the digest, then checks later reads against its tag', () => {
    const tags = new ReadTags();
    const data = randomBytes(2_000_000);
    const d = digestOf(data);
    const seen: string[] = [];
    const check = () =>
      tags.check(
        d,
        data.length,
        (actual) => seen.push(`mismatch ${actual}`),
        () => seen.push('match'),
      );
    expect(run(check(), data)).toBe('match');
    expect(run(check(), data)).toBe('match');
    expect(seen).toEqual(['match', 'match']);
    // One flipped bit after the proof: the tag check refuses it, says so, and forgets the tag.
    const altered = Buffer.from(data);
    altered[123_456]! ^= 1;
    expect(run(check(), altered)).toBe('refused');
    expect(seen[2]).toMatch(/differ from those this process verified/);
    // Forgotten: the next read is hashed again, and its digest is what is reported.
    expect(run(check(), altered)).toBe('refused');
    expect(seen[3]).toBe(`mismatch ${digestOf(altered).value}`);
    expect(run(check(), data)).toBe('match');
  });

  it('keeps no tag for bytes that fail the digest, nor for another size', () => {
    const tags = new ReadTags();
    const data = randomBytes(1_500_000);
    const d = digestOf(data);
    const wrong = randomBytes(1_500_000);
    const reports: string[] = [];
    const check = (size: number) =>
      tags.check(
        d,
        size,
        (a) => reports.push(a),
        () => reports.push('ok'),
      );
    expect(run(check(wrong.length), wrong)).toBe('refused');
    // Had the wrong bytes been tagged, this read of them would pass: it is hashed, and refused.
    expect(run(check(wrong.length), wrong)).toBe('refused');
    expect(reports).toEqual([digestOf(wrong).value, digestOf(wrong).value]);
    expect(run(check(data.length), data)).toBe('match');
    // A shorter read of the same blob is not compared with the whole blob's tag: it is hashed (and refused).
    expect(run(check(10), data.subarray(0, 10))).toBe('refused');
  });

  it('a tag of one process does not pass in another (the key is never stored)', () => {
    const data = randomBytes(1_100_000);
    const d = digestOf(data);
    const a = new ReadTags();
    const b = new ReadTags();
    expect(
      run(
        a.check(
          d,
          data.length,
          () => undefined,
          () => undefined,
        ),
        data,
      ),
    ).toBe('match');
    let hashed = false;
    // b has no tag: it hashes (reporting the digest on a mismatch), whatever a has proven.
    const altered = Buffer.from(data);
    altered[0]! ^= 0xff;
    expect(
      run(
        b.check(
          d,
          data.length,
          (actual) => (hashed = actual.startsWith('sha256:')),
          () => undefined,
        ),
        altered,
      ),
    ).toBe('refused');
    expect(hashed).toBe(true);
  });

  it('holds a bounded number of tags, the least recently proven leaving first', () => {
    const tags = new ReadTags(2);
    const size = 1024 * 1024;
    const blobs = [randomBytes(size), randomBytes(size), randomBytes(size)];
    const reports: string[] = [];
    const check = (b: Buffer) =>
      tags.check(
        digestOf(b),
        b.length,
        (a) => reports.push(a),
        () => undefined,
      );
    for (const b of blobs) expect(run(check(b), b)).toBe('match');
    // The first blob's tag was dropped: a read of altered bytes is hashed again and reports a digest.
    const altered = Buffer.from(blobs[0]!);
    altered[0]! ^= 1;
    expect(run(check(altered), altered)).toBe('match'); // a different blob, proven on its own digest
    expect(
      run(
        tags.check(
          digestOf(blobs[0]!),
          100,
          (a) => reports.push(a),
          () => undefined,
        ),
        altered,
      ),
    ).toBe('refused');
    expect(reports.at(-1)).toBe(digestOf(altered).value);
  });

  it('hashes every read of a blob under 1 MiB (no tag kept)', () => {
    const tags = new ReadTags();
    const data = randomBytes(1024 * 1024 - 1);
    const d = digestOf(data);
    expect(
      run(
        tags.check(
          d,
          data.length,
          () => undefined,
          () => undefined,
        ),
        data,
      ),
    ).toBe('match');
    const reports: string[] = [];
    const altered = Buffer.from(data);
    altered[9]! ^= 1;
    expect(
      run(
        tags.check(
          d,
          data.length,
          (a) => reports.push(a),
          () => undefined,
        ),
        altered,
      ),
    ).toBe('refused');
    expect(reports).toEqual([digestOf(altered).value]);
  });

  it('digestCheck hashes every read', () => {
    const data = randomBytes(30_000);
    const d = digestOf(data);
    expect(
      run(
        digestCheck(
          d,
          () => undefined,
          () => undefined,
        ),
        data,
      ),
    ).toBe('match');
    const bad: string[] = [];
    expect(
      run(
        digestCheck(
          d,
          (a) => bad.push(a),
          () => undefined,
        ),
        Buffer.alloc(30_000),
      ),
    ).toBe('refused');
    expect(bad).toEqual([digestOf(Buffer.alloc(30_000)).value]);
  });
});
