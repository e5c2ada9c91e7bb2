import { artifactHref, shortDigest } from './format';

export interface GraphNode {
  repository?: string;
  digest: string;
  depth: number;
  name?: string | null;
  version?: string | null;
  kind?: string;
  stage?: string;
  hidden?: boolean;
  known?: boolean;
  compromised?: unknown;
}
export interface GraphEdge {
  from: { repository?: string; digest: string };
  relation: string;
  to: { repository?: string; digest: string };
}
export interface Lineage {
  upstream?: { nodes: GraphNode[]; edges: GraphEdge[]; truncated: boolean };
  downstream?: { nodes: GraphNode[]; edges: GraphEdge[]; truncated: boolean };
}

const W = 190;
const H = 46;
const GAP_X = 70;
const GAP_Y = 18;

const label = (n: GraphNode) =>
  n.hidden ? 'hidden' : n.name ? `${n.name}${n.version ? ` ${n.version}` : ''}` : (n.repository ?? 'unknown');

/**
 * The artifact's lineage as a layered graph: what it was built from to the left (by depth), what was built
 * on it to the right. Each node is a link to its page (keyboard and screen reader reachable); nodes in
 * repositories the user may not read keep their digest and lose their name, as the API gives them.
 */
export function LineageGraph(props: { lineage: Lineage; digest: string }) {
  const columns = new Map<number, GraphNode[]>();
  const place = (n: GraphNode, side: number) => {
    const col = n.depth * side;
    const list = columns.get(col) ?? [];
    if (!list.some((x) => x.digest === n.digest)) list.push(n);
    columns.set(col, list);
  };
  for (const n of props.lineage.upstream?.nodes ?? []) place(n, -1);
  for (const n of props.lineage.downstream?.nodes ?? []) if (n.depth > 0) place(n, 1);
  const cols = [...columns.keys()].sort((a, b) => a - b);
  if (cols.length <= 1)
    return <p class="muted">No lineage recorded: this artifact names nothing, and nothing names it.</p>;
  const min = cols[0]!;
  const rows = Math.max(...[...columns.values()].map((c) => c.length));
  const at = new Map<string, { x: number; y: number }>();
  for (const [col, nodes] of columns)
    nodes.forEach((n, i) =>
      at.set(n.digest, {
        x: (col - min) * (W + GAP_X),
        y: i * (H + GAP_Y) + ((rows - nodes.length) * (H + GAP_Y)) / 2,
      }),
    );
  const edges = [...(props.lineage.upstream?.edges ?? []), ...(props.lineage.downstream?.edges ?? [])];
  const width = cols.length * (W + GAP_X) - GAP_X;
  const height = rows * (H + GAP_Y) - GAP_Y;
  return (
    <svg
      class="lineage"
      role="group"
      aria-label="Lineage graph"
      viewBox={`-2 -2 ${width + 4} ${height + 4}`}
      width={width + 4}
      height={height + 4}
    >
      <defs>
        <marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" markerHeight="8" orient="auto">
          <path d="M0,0 L10,5 L0,10 z" fill="#56606b" />
        </marker>
      </defs>
      {edges.map((e) => {
        // An edge says "from was built on to": drawn from the input (to) towards what was made of it (from).
        const a = at.get(e.to.digest);
        const b = at.get(e.from.digest);
        if (!a || !b) return null;
        return (
          <g>
            <title>{e.relation}</title>
            <line x1={a.x + W} y1={a.y + H / 2} x2={b.x} y2={b.y + H / 2} class="edge" marker-end="url(#arrow)" />
          </g>
        );
      })}
      {[...columns.values()].flat().map((n) => {
        const p = at.get(n.digest)!;
        const self = n.digest === props.digest && n.depth === 0;
        const box = (
          <>
            <rect
              x={p.x}
              y={p.y}
              width={W}
              height={H}
              rx="5"
              class={`node${self ? ' self' : ''}${n.compromised ? ' bad' : ''}`}
            />
            <text x={p.x + 8} y={p.y + 18}>
              {label(n).slice(0, 26)}
            </text>
            <text x={p.x + 8} y={p.y + 36} class="small">
              {n.kind ?? ''} {n.stage ?? ''} {shortDigest(n.digest)}
            </text>
          </>
        );
        return n.hidden || !n.repository || self ? (
          <g>
            <title>{n.hidden ? `hidden: ${n.digest}` : n.digest}</title>
            {box}
          </g>
        ) : (
          <a href={artifactHref(n.repository, n.digest)}>{box}</a>
        );
      })}
    </svg>
  );
}
