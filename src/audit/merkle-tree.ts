import { EMPTY_ROOT, nodeHash, type Hash } from './merkle';

function split(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/**
 * The log's Merkle tree with every perfect, aligned subtree's hash kept as leaves arrive (about one more
 * hash per leaf). RFC 6962's recursion only ever asks for such subtrees on its left-hand side, so roots and
 * proofs cost O(log² n) instead of re-hashing the whole log: a receipt is issued for every manifest push.
 * Same results as the reference functions in merkle.ts (test/unit/audit/merkle.test.ts).
 */
export class MerkleTree {
  /** levels[h][i]: the hash of leaves [i·2^h, (i+1)·2^h). levels[0] are the leaves. */
  private readonly levels: Hash[][] = [[]];

  get size(): number {
    return this.levels[0]!.length;
  }

  leaf(i: number): Hash {
    return this.levels[0]![i]!;
  }

  append(leaf: Hash): void {
    this.levels[0]!.push(leaf);
    let h = 0;
    let i = this.levels[0]!.length - 1;
    // Each completed pair makes a node one level up.
    while (i % 2 === 1) {
      const level = this.levels[h]!;
      const up = (this.levels[h + 1] ??= []);
      up.push(nodeHash(level[i - 1]!, level[i]!));
      h++;
      i = up.length - 1;
    }
  }

  /** MTH of leaves [from, to). */
  root(from = 0, to = this.size): Hash {
    const n = to - from;
    if (n === 0) return EMPTY_ROOT;
    if ((n & (n - 1)) === 0 && from % n === 0) {
      const h = Math.log2(n);
      const cached = this.levels[h]?.[from / n];
      if (cached) return cached;
    }
    if (n === 1) return this.levels[0]![from]!;
    const k = split(n);
    return nodeHash(this.root(from, from + k), this.root(from + k, to));
  }

  /** PATH(m, D[n]). */
  inclusionProof(m: number, n = this.size): Hash[] {
    if (!(m >= 0 && m < n && n <= this.size)) throw new RangeError(`leaf ${m} is not in a tree of size ${n}`);
    const out: Hash[] = [];
    const path = (m: number, from: number, to: number): void => {
      const size = to - from;
      if (size === 1) return;
      const k = split(size);
      if (m < k) {
        path(m, from, from + k);
        out.push(this.root(from + k, to));
      } else {
        path(m - k, from + k, to);
        out.push(this.root(from, from + k));
      }
    };
    path(m, 0, n);
    return out;
  }

  /** PROOF(m, D[n]). */
  consistencyProof(m: number, n = this.size): Hash[] {
    if (!(m >= 0 && m <= n && n <= this.size)) throw new RangeError(`no consistency proof from ${m} to ${n}`);
    if (m === 0 || m === n) return [];
    const out: Hash[] = [];
    const sub = (m: number, from: number, to: number, whole: boolean): void => {
      const size = to - from;
      if (m === size) {
        if (!whole) out.push(this.root(from, to));
        return;
      }
      const k = split(size);
      if (m <= k) {
        sub(m, from, from + k, whole);
        out.push(this.root(from + k, to));
      } else {
        sub(m - k, from + k, to, false);
        out.push(this.root(from, from + k));
      }
    };
    sub(m, 0, n, true);
    return out;
  }
}
