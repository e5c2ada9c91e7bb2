import { createHash } from 'node:crypto';
import { consistencyProof, inclusionProof, leafHash, rootOf } from '../../../src/audit/merkle';
import { MerkleTree } from '../../../src/audit/merkle-tree';

describe('MerkleTree (cached perfect subtrees) answers exactly as the RFC 6962 reference functions', () => {
  it('for every size up to 70, every root, inclusion and consistency proof', () => {
    const leaves = Array.from({ length: 70 }, (_, i) => leafHash(createHash('sha256').update(String(i)).digest()));
    const tree = new MerkleTree();
    for (let n = 1; n <= leaves.length; n++) {
      tree.append(leaves[n - 1]!);
      expect(tree.size).toBe(n);
      expect(tree.root().equals(rootOf(leaves, 0, n))).toBe(true);
      for (let m = 0; m < n; m++) {
        expect(tree.inclusionProof(m, n)).toEqual(inclusionProof(leaves, m, n));
        expect(tree.consistencyProof(m, n)).toEqual(consistencyProof(leaves, m, n));
        expect(tree.root(0, m).equals(rootOf(leaves, 0, m))).toBe(true);
      }
    }
    expect(() => tree.inclusionProof(70, 70)).toThrow(RangeError);
    expect(() => tree.consistencyProof(3, 71)).toThrow(RangeError);
  });
});
