import { createHash } from 'node:crypto';
import {
  consistencyProof,
  EMPTY_ROOT,
  inclusionProof,
  leafHash,
  rootOf,
  verifyConsistency,
  verifyInclusion,
} from '../../../src/audit/merkle';

/** The RFC 6962 test data used by Certificate Transparency's implementations (certificate-transparency-go). */
const LEAVES = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'].map(
  (h) => Buffer.from(h, 'hex'),
);
const ROOTS = [
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
];
const INCLUSION: [number, number, string[]][] = [
  [0, 1, []],
  [
    0,
    8,
    [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
  ],
  [
    5,
    8,
    [
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  ],
  [2, 3, ['fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125']],
  [
    1,
    5,
    [
      '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    ],
  ],
];
const CONSISTENCY: [number, number, string[]][] = [
  [1, 1, []],
  [
    1,
    8,
    [
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ],
  ],
  [
    6,
    8,
    [
      '0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ],
  ],
  [
    2,
    5,
    [
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
    ],
  ],
];
const hex = (hs: Buffer[]) => hs.map((h) => h.toString('hex'));
const hashes = LEAVES.map(leafHash);

describe('RFC 6962 Merkle tree (known-answer vectors)', () => {
  it('hashes the empty tree, leaves and roots of every size as the RFC test data says', () => {
    expect(EMPTY_ROOT.toString('hex')).toBe(createHash('sha256').digest('hex'));
    expect(EMPTY_ROOT.toString('hex')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    for (let n = 1; n <= 8; n++) expect(rootOf(hashes.slice(0, n)).toString('hex')).toBe(ROOTS[n - 1]);
  });

  it.each(INCLUSION)('inclusion proof of leaf %i in a tree of %i', (m, n, expected) => {
    const proof = inclusionProof(hashes, m, n);
    expect(hex(proof)).toEqual(expected);
    expect(verifyInclusion(hashes[m]!, m, n, proof, Buffer.from(ROOTS[n - 1]!, 'hex'))).toBe(true);
  });

  it.each(CONSISTENCY)('consistency proof from %i to %i', (m, n, expected) => {
    const proof = consistencyProof(hashes, m, n);
    expect(hex(proof)).toEqual(expected);
    expect(verifyConsistency(m, n, proof, Buffer.from(ROOTS[m - 1]!, 'hex'), Buffer.from(ROOTS[n - 1]!, 'hex'))).toBe(
      true,
    );
  });

  it('verifies every proof of every pair in trees up to 40 leaves, and rejects every single-bit change', () => {
    const many = Array.from({ length: 40 }, (_, i) => leafHash(Buffer.from(`event ${i}`)));
    for (let n = 1; n <= many.length; n++) {
      const root = rootOf(many.slice(0, n));
      for (let m = 0; m < n; m++) {
        const p = inclusionProof(many, m, n);
        expect(verifyInclusion(many[m]!, m, n, p, root)).toBe(true);
        // A proof holds only against the root of its own tree size.
        if (n < many.length) expect(verifyInclusion(many[m]!, m, n + 1, p, rootOf(many.slice(0, n + 1)))).toBe(false);
        if (m + 1 < n) expect(verifyInclusion(many[m + 1]!, m, n, p, root)).toBe(false);
        for (const [i, h] of p.entries()) {
          const bad = p.map((x) => Buffer.from(x));
          bad[i]![0] = h[0]! ^ 1;
          expect(verifyInclusion(many[m]!, m, n, bad, root)).toBe(false);
        }
      }
      for (let m = 1; m <= n; m++) {
        const p = consistencyProof(many, m, n);
        const r1 = rootOf(many.slice(0, m));
        expect(verifyConsistency(m, n, p, r1, root)).toBe(true);
        if (m < n) {
          expect(verifyConsistency(m, n, p, root, root)).toBe(false);
          // A forked history: same size, another leaf in the middle.
          const forked = [...many.slice(0, n)];
          forked[Math.max(0, m - 1)] = leafHash(Buffer.from('rewritten'));
          expect(verifyConsistency(m, n, consistencyProof(forked, m, n), r1, rootOf(forked))).toBe(false);
        }
      }
    }
  });

  it('refuses impossible ranges instead of answering', () => {
    expect(() => inclusionProof(hashes, 8, 8)).toThrow(RangeError);
    expect(() => consistencyProof(hashes, 5, 4)).toThrow(RangeError);
    expect(verifyInclusion(hashes[0]!, 3, 2, [], hashes[0]!)).toBe(false);
  });
});
