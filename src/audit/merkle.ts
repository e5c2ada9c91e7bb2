import { createHash } from 'node:crypto';

/**
 * RFC 6962 / RFC 9162 Merkle tree hashing and proofs over leaf hashes. Leaves are hashed with a 0x00
 * prefix and interior nodes with 0x01, so a leaf can never pass for a node (second-preimage resistance).
 * Pure functions over arrays of 32-byte hashes; the log keeps the leaf hashes.
 */
export type Hash = Buffer;

const sha256 = (...parts: Buffer[]): Hash => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
};

const LEAF = Buffer.from([0]);
const NODE = Buffer.from([1]);

export function leafHash(leaf: Buffer): Hash {
  return sha256(LEAF, leaf);
}

export function nodeHash(left: Hash, right: Hash): Hash {
  return sha256(NODE, left, right);
}

export const EMPTY_ROOT: Hash = sha256();

/** The largest power of two strictly smaller than n (n > 1). */
function split(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** MTH(D[n]) from the leaf hashes of D. */
export function rootOf(leaves: Hash[], from = 0, to = leaves.length): Hash {
  const n = to - from;
  if (n === 0) return EMPTY_ROOT;
  if (n === 1) return leaves[from]!;
  // Iterative over perfect subtrees would be faster; recursion keeps it the RFC's definition.
  const k = split(n);
  return nodeHash(rootOf(leaves, from, from + k), rootOf(leaves, from + k, to));
}

/** PATH(m, D[n]): the audit path of leaf m in the tree of the first n leaves. */
export function inclusionProof(leaves: Hash[], m: number, n = leaves.length): Hash[] {
  if (!(m >= 0 && m < n && n <= leaves.length)) throw new RangeError(`leaf ${m} is not in a tree of size ${n}`);
  const path = (m: number, from: number, to: number): Hash[] => {
    const size = to - from;
    if (size === 1) return [];
    const k = split(size);
    return m < k
      ? [...path(m, from, from + k), rootOf(leaves, from + k, to)]
      : [...path(m - k, from + k, to), rootOf(leaves, from, from + k)];
  };
  return path(m, 0, n);
}

/** PROOF(m, D[n]): that the tree of the first m leaves is a prefix of the tree of n leaves. */
export function consistencyProof(leaves: Hash[], m: number, n = leaves.length): Hash[] {
  if (!(m >= 0 && m <= n && n <= leaves.length)) throw new RangeError(`no consistency proof from ${m} to ${n}`);
  if (m === 0 || m === n) return [];
  const subproof = (m: number, from: number, to: number, whole: boolean): Hash[] => {
    const size = to - from;
    if (m === size) return whole ? [] : [rootOf(leaves, from, to)];
    const k = split(size);
    return m <= k
      ? [...subproof(m, from, from + k, whole), rootOf(leaves, from + k, to)]
      : [...subproof(m - k, from + k, to, false), rootOf(leaves, from, from + k)];
  };
  return subproof(m, 0, n, true);
}

/** RFC 9162 2.1.3.2: does `proof` show leaf `index` (hash `leaf`) in the tree of `size` with root `root`? */
export function verifyInclusion(leaf: Hash, index: number, size: number, proof: Hash[], root: Hash): boolean {
  if (index >= size || index < 0) return false;
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && r.equals(root);
}

/** RFC 9162 2.1.4.2: does `proof` show the tree (size1, root1) is a prefix of (size2, root2)? */
export function verifyConsistency(size1: number, size2: number, proof: Hash[], root1: Hash, root2: Hash): boolean {
  if (size1 > size2 || size1 < 0) return false;
  if (size1 === size2) return proof.length === 0 && root1.equals(root2);
  if (size1 === 0) return proof.length === 0;
  let path = proof;
  // If size1 is a power of two, the first tree's root is itself the first node of the path.
  if ((size1 & (size1 - 1)) === 0) path = [root1, ...proof];
  if (path.length === 0) return false;
  let fn = size1 - 1;
  let sn = size2 - 1;
  while (fn % 2 === 1) {
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  let fr = path[0]!;
  let sr = path[0]!;
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (fn % 2 === 1 || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 && fr.equals(root1) && sr.equals(root2);
}
