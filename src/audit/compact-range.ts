import { EMPTY_ROOT, nodeHash, type Hash } from './merkle';

/**
 * The roots of the perfect subtrees covering leaves [0, n) (at most log2(n) of them): enough to append a
 * leaf and compute the RFC 6962 root in O(log n), so a log of millions of events is checkpointed without
 * rehashing it.
 */
export class CompactRange {
  private readonly nodes: { size: number; hash: Hash }[] = [];
  private count = 0;

  get size(): number {
    return this.count;
  }

  append(leaf: Hash): void {
    let node = { size: 1, hash: leaf };
    while (this.nodes.length > 0 && this.nodes[this.nodes.length - 1]!.size === node.size) {
      const left = this.nodes.pop()!;
      node = { size: left.size * 2, hash: nodeHash(left.hash, node.hash) };
    }
    this.nodes.push(node);
    this.count++;
  }

  root(): Hash {
    if (this.nodes.length === 0) return EMPTY_ROOT;
    let r = this.nodes[this.nodes.length - 1]!.hash;
    for (let i = this.nodes.length - 2; i >= 0; i--) r = nodeHash(this.nodes[i]!.hash, r);
    return r;
  }
}
