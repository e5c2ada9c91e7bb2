import { digestOf, parseDigest, tryParseDigest } from '../../src/oci/digest';
import { isRepositoryName, isTag, assertRepositoryName } from '../../src/oci/names';
import { OciError } from '../../src/oci/errors';

describe('digests', () => {
  it('accepts sha256 and sha512 in lower-case hex', () => {
    expect(tryParseDigest(`sha256:${'a'.repeat(64)}`)?.algorithm).toBe('sha256');
    expect(tryParseDigest(`sha512:${'0'.repeat(128)}`)?.algorithm).toBe('sha512');
  });
  it.each([
    ['sha256:' + 'A'.repeat(64)],
    ['sha256:' + 'a'.repeat(63)],
    ['sha256:' + 'a'.repeat(65)],
    ['sha512:' + 'a'.repeat(64)],
    ['md5:' + 'a'.repeat(32)],
    ['sha256'],
    [':abc'],
    ['sha256:../../etc/passwd'],
    [''],
  ])('refuses %s', (d) => {
    expect(tryParseDigest(d)).toBeUndefined();
    expect(() => parseDigest(d)).toThrow(OciError);
    try {
      parseDigest(d);
    } catch (err) {
      expect((err as OciError).code).toBe('DIGEST_INVALID');
      expect((err as OciError).status).toBe(400);
    }
  });
  it('computes digests', () => {
    expect(digestOf('')).toBe('sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });
});

describe('repository names and tags', () => {
  it.each(['a', 'library/ubuntu', 'my-org/models/resnet_50', 'a.b/c__d/e--f', 'a'.repeat(255)])('accepts %s', (n) => {
    expect(isRepositoryName(n)).toBe(true);
  });
  it.each(['', 'Upper', 'a/../b', '../a', '/a', 'a/', 'a//b', 'a_', '-a', 'a.', 'a'.repeat(256), 'a b', 'a/B'])(
    'refuses %s',
    (n) => {
      expect(isRepositoryName(n)).toBe(false);
      expect(() => assertRepositoryName(n)).toThrow(expect.objectContaining({ code: 'NAME_INVALID', status: 400 }));
    },
  );
  it('checks tags', () => {
    expect(isTag('v1.0_rc-1')).toBe(true);
    expect(isTag('_x')).toBe(true);
    expect(isTag('.x')).toBe(false);
    expect(isTag('-x')).toBe(false);
    expect(isTag('a'.repeat(128))).toBe(true);
    expect(isTag('a'.repeat(129))).toBe(false);
  });
});
