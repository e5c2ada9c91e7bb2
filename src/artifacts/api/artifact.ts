import type { ServerResponse } from 'node:http';
import { sendJson } from '../../http/respond';
import type { RequestContext } from '../../http/context';
import type { ArtifactApiDeps } from './deps';
import { canPull, describeArtifact, resolveArtifact } from './resolve';

/** GET /v2/<name>/_cairn/artifacts/<reference>: kind, metadata, provenance, stage, approvals, direct lineage. */
export async function getArtifact(
  s: ArtifactApiDeps,
  repository: string,
  reference: string,
  ctx: RequestContext,
  res: ServerResponse,
): Promise<void> {
  const a = await resolveArtifact(s, repository, reference);
  const [approvals, tags, upstream, downstream] = await Promise.all([
    s.artifacts.approvals(a.id),
    s.artifacts.tags(repository, a.digest),
    s.artifacts.edgesFrom([a]),
    s.artifacts.edgesTo([a.digest]),
  ]);
  sendJson(
    res,
    200,
    describeArtifact(a, {
      tags,
      approvals,
      metadata: a.metadata,
      upstream: upstream.map((e) => ({ relation: e.relation, ...e.to })),
      downstream: downstream
        .filter((e) => !e.to.repository || e.to.repository === repository)
        .map((e) =>
          canPull(ctx, e.from.repository)
            ? { relation: e.relation, ...e.from }
            : { relation: e.relation, digest: e.from.digest, hidden: true },
        ),
    }),
  );
}
