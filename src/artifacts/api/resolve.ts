import { OciError } from '../../oci/errors';
import { isTag } from '../../oci/names';
import { tryParseDigest } from '../../oci/digest';
import type { ArtifactView } from '../../catalog/artifact-index';
import type { ArtifactApiDeps } from './deps';
import type { RequestContext } from '../../http/context';

/** A tag or digest in a repository, to the artifact it names (MANIFEST_UNKNOWN when none). */
export async function resolveArtifact(
  s: ArtifactApiDeps,
  repository: string,
  reference: string,
): Promise<ArtifactView> {
  const ref = decodeURIComponent(reference);
  if (ref.includes(':') ? !tryParseDigest(ref) : !isTag(ref))
    throw new OciError('MANIFEST_INVALID', 'reference must be a tag or a digest', { reference: ref.slice(0, 200) });
  const m = await s.catalog.getManifest(repository, ref);
  if (!m) throw new OciError('MANIFEST_UNKNOWN', 'manifest unknown', { repository, reference: ref });
  const a = await s.artifacts.get(repository, m.digest);
  if (!a)
    throw new OciError(
      'MANIFEST_UNKNOWN',
      'no metadata recorded for this manifest (pushed before metadata indexing; push it again)',
      { repository, digest: m.digest },
    );
  return a;
}

/** The public shape of an artifact; repositories the caller may not pull are not named. */
export function describeArtifact(a: ArtifactView, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    repository: a.repository,
    digest: a.digest,
    kind: a.kind,
    family: a.family,
    name: a.name,
    version: a.version,
    framework: a.framework,
    license: a.license,
    stage: a.stage,
    ...(a.stageReason ? { stageReason: a.stageReason } : {}),
    stageChangedBy: a.stageBy,
    stageChangedAt: a.stageAt === null ? null : new Date(a.stageAt).toISOString(),
    pushedBy: a.pushedBy,
    pushedAt: new Date(a.createdAt).toISOString(),
    size: a.totalSize,
    ...(a.compromised
      ? { compromised: { at: new Date(a.compromised.at).toISOString(), reason: a.compromised.reason } }
      : {}),
    ...extra,
  };
}

export function canPull(ctx: RequestContext, repository: string): boolean {
  return ctx.auth?.can('pull', repository) ?? true;
}

export function intParam(ctx: RequestContext, name: string, fallback: number, max: number): number {
  const v = ctx.query.get(name);
  if (v === null || v === '') return fallback;
  if (!/^\d{1,6}$/.test(v))
    throw new OciError('PARAMETER_INVALID', `${name} must be a whole number`, { [name]: v.slice(0, 50) });
  return Math.min(Number(v), max);
}
