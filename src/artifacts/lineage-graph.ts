import type { ArtifactIndex, ArtifactView, LineageEdge } from '../catalog/artifact-index';

export type Direction = 'upstream' | 'downstream';

export interface LineageNode {
  /** Absent when an edge names a digest without a repository and no stored artifact has it. */
  repository?: string;
  digest: string;
  /** Steps from the start. */
  depth: number;
  artifact?: ArtifactView;
}

export interface LineageGraph {
  nodes: LineageNode[];
  edges: LineageEdge[];
  /** The depth or node limit stopped the walk before the graph ended. */
  truncated: boolean;
}

const key = (repository: string | undefined, digest: string) => `${repository ?? '?'}@${digest}`;

/**
 * Walks the lineage graph breadth first from an artifact, one query a level whatever its width:
 * upstream follows what artifacts name (datasets, base model, sources, subject), downstream who names
 * them. An edge without a repository matches the digest in any repository.
 */
export async function walkLineage(
  index: ArtifactIndex,
  start: ArtifactView,
  direction: Direction,
  maxDepth: number,
  maxNodes = 2000,
): Promise<LineageGraph> {
  const nodes = new Map<string, LineageNode>([
    [
      key(start.repository, start.digest),
      { repository: start.repository, digest: start.digest, depth: 0, artifact: start },
    ],
  ]);
  const edges: LineageEdge[] = [];
  const seenEdges = new Set<string>();
  let frontier: ArtifactView[] = [start];
  let truncated = false;
  for (let depth = 1; frontier.length > 0; depth++) {
    if (depth > maxDepth) {
      truncated =
        (direction === 'upstream'
          ? await index.edgesFrom(frontier)
          : await index.edgesTo(frontier.map((f) => f.digest))
        ).length > 0;
      break;
    }
    const found =
      direction === 'upstream'
        ? await index.edgesFrom(frontier)
        : (await index.edgesTo(frontier.map((f) => f.digest))).filter((e) =>
            frontier.some((f) => f.digest === e.to.digest && (!e.to.repository || e.to.repository === f.repository)),
          );
    const next: ArtifactView[] = [];
    const ends = direction === 'upstream' ? found.map((e) => e.to) : found.map((e) => e.from);
    const known = await index.byDigests(ends.map((e) => e.digest));
    for (const e of found) {
      const ek = `${key(e.from.repository, e.from.digest)} ${e.relation} ${key(e.to.repository, e.to.digest)}`;
      if (seenEdges.has(ek)) continue;
      seenEdges.add(ek);
      edges.push(e);
      const end = direction === 'upstream' ? e.to : e.from;
      const matches = known.filter(
        (a) => a.digest === end.digest && (!end.repository || a.repository === end.repository),
      );
      if (matches.length === 0 && !nodes.has(key(end.repository, end.digest))) {
        nodes.set(key(end.repository, end.digest), {
          ...(end.repository ? { repository: end.repository } : {}),
          digest: end.digest,
          depth,
        });
      }
      for (const a of matches) {
        const k = key(a.repository, a.digest);
        if (nodes.has(k)) continue;
        if (nodes.size >= maxNodes) {
          truncated = true;
          continue;
        }
        nodes.set(k, { repository: a.repository, digest: a.digest, depth, artifact: a });
        next.push(a);
      }
    }
    frontier = next;
  }
  return { nodes: [...nodes.values()], edges, truncated };
}
