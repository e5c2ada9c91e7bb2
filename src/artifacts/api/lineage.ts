import type { ServerResponse } from 'node:http';
import { OciError } from '../../oci/errors';
import { sendJson } from '../../http/respond';
import type { RequestContext } from '../../http/context';
import type { ArtifactApiDeps } from './deps';
import { walkLineage, type Direction, type LineageGraph, type LineageNode } from '../lineage-graph';
import { canPull, describeArtifact, intParam, resolveArtifact } from './resolve';
import type { LineageEdge } from '../../catalog/artifact-index';

const MAX_DEPTH = 50;

/** Nodes in repositories the caller may not pull keep their digest (the graph stays honest) and lose the rest. */
function nodeOut(ctx: RequestContext, n: LineageNode): Record<string, unknown> {
  if (n.repository && !canPull(ctx, n.repository)) return { digest: n.digest, depth: n.depth, hidden: true };
  if (!n.artifact)
    return { ...(n.repository ? { repository: n.repository } : {}), digest: n.digest, depth: n.depth, known: false };
  return describeArtifact(n.artifact, { depth: n.depth });
}

function edgeOut(ctx: RequestContext, e: LineageEdge): Record<string, unknown> {
  const end = (x: { repository?: string; digest: string }) =>
    x.repository && !canPull(ctx, x.repository) ? { digest: x.digest } : x;
  return { from: end(e.from), relation: e.relation, to: end(e.to) };
}

function graphOut(ctx: RequestContext, g: LineageGraph) {
  return {
    nodes: g.nodes.map((n) => nodeOut(ctx, n)),
    edges: g.edges.map((e) => edgeOut(ctx, e)),
    truncated: g.truncated,
  };
}

/** GET /v2/<name>/_cairn/lineage/<reference>?direction=upstream|downstream|both&depth=N */
export async function getLineage(
  s: ArtifactApiDeps,
  repository: string,
  reference: string,
  ctx: RequestContext,
  res: ServerResponse,
): Promise<void> {
  const direction = ctx.query.get('direction') ?? 'both';
  if (!['upstream', 'downstream', 'both'].includes(direction))
    throw new OciError('PARAMETER_INVALID', 'direction must be upstream, downstream or both', {
      direction: direction.slice(0, 50),
    });
  const depth = intParam(ctx, 'depth', 5, MAX_DEPTH);
  const a = await resolveArtifact(s, repository, reference);
  const out: Record<string, unknown> = { artifact: describeArtifact(a), depth };
  for (const d of ['upstream', 'downstream'] as Direction[]) {
    if (direction === d || direction === 'both') out[d] = graphOut(ctx, await walkLineage(s.artifacts, a, d, depth));
  }
  sendJson(res, 200, out);
}

/**
 * GET /v2/<name>/_cairn/impact/<reference>?depth=N: every model trained, directly or through derived
 * datasets and fine-tuned models, on this artifact, each with its path and its audit events, so an
 * investigator can see who pushed, moved and pulled what since.
 */
export async function getImpact(
  s: ArtifactApiDeps,
  repository: string,
  reference: string,
  ctx: RequestContext,
  res: ServerResponse,
): Promise<void> {
  const depth = intParam(ctx, 'depth', 20, MAX_DEPTH);
  const eventsPerNode = intParam(ctx, 'events', 100, 1000);
  const a = await resolveArtifact(s, repository, reference);
  const g = await walkLineage(s.artifacts, a, 'downstream', depth);
  const affected = [];
  for (const n of g.nodes) {
    if (n.depth === 0 || !n.artifact || n.artifact.kind === 'signature' || n.artifact.kind === 'attestation') continue;
    if (!canPull(ctx, n.artifact.repository)) {
      affected.push({ digest: n.digest, depth: n.depth, hidden: true });
      continue;
    }
    const path = g.edges
      .filter((e) => e.from.repository === n.repository && e.from.digest === n.digest)
      .map((e) => ({ relation: e.relation, to: e.to }));
    const events = await s.audit.search({ digest: n.digest, limit: eventsPerNode });
    affected.push(
      describeArtifact(n.artifact, {
        depth: n.depth,
        via: path,
        tags: await s.artifacts.tags(n.artifact.repository, n.digest),
        events,
      }),
    );
  }
  const rootEvents = await s.audit.search({ digest: a.digest, limit: eventsPerNode });
  sendJson(res, 200, {
    artifact: describeArtifact(a, { events: rootEvents }),
    models: affected.filter((x) => (x as { kind?: string }).kind === 'model').length,
    affected,
    truncated: g.truncated,
  });
}
