import type { Catalog } from '../catalog/catalog';
import type { AuditEvent } from '../audit/events';
import { repositoryMatches } from '../oci/repository-pattern';
import type { ReplicationTargetConfig } from './target';

/** What one logged change asks of a target. */
export type ReplicationAction =
  | { kind: 'copy'; repository: string; digest: string; tags: string[]; withReferrers: boolean; via: string[] }
  | { kind: 'delete'; repository: string; reference: string; via: string[] };

export type PlanLookups = Pick<Catalog, 'getManifest' | 'tagsOf'>;

/** Whether a repository is replicated to the target (its `repositories` patterns, as in governance.yaml). */
export function repositoryMatcher(
  target: Pick<ReplicationTargetConfig, 'repositories'>,
): (repository: string) => boolean {
  return (repository) => target.repositories.some((p) => repositoryMatches(p, repository));
}

/**
 * Turns an audit event into what the target must do, or nothing. A manifest push is sent with its tag
 * when the tag still points at it (a later push moved it otherwise, and its own event carries it); a
 * target with `stages` gets an artifact only at those stages (a referrer: when its subject is), and
 * the promotion itself sends the artifact with its tags and referrers. Deletes only with `deletes`.
 * A change that came through other registries carries them in `via`, and this registry is added.
 */
export async function planReplication(
  e: AuditEvent,
  target: Pick<ReplicationTargetConfig, 'stages' | 'deletes'>,
  replicated: (repository: string) => boolean,
  self: string,
  lookups: PlanLookups,
): Promise<ReplicationAction | undefined> {
  const repository = e.repository;
  if (!repository || !replicated(repository)) return undefined;
  const came = typeof e.detail?.replicatedVia === 'string' ? e.detail.replicatedVia.split(',') : [];
  const via = [...came.filter((r) => r !== self), self];
  const atStage = async (digest: string) => {
    if (!target.stages) return true;
    const stage = (await lookups.getManifest(repository, digest))?.stage;
    return stage !== undefined && target.stages.includes(stage as never);
  };
  switch (e.type) {
    case 'manifest.push': {
      if (!e.digest) return undefined;
      const subject = typeof e.detail?.subject === 'string' ? e.detail.subject : undefined;
      if (!(await atStage(subject ?? e.digest))) return undefined;
      const tagged = e.tag && (await lookups.getManifest(repository, e.tag))?.digest === e.digest;
      return { kind: 'copy', repository, digest: e.digest, tags: tagged ? [e.tag!] : [], withReferrers: false, via };
    }
    case 'lifecycle.stage': {
      if (!e.digest || !target.stages?.includes(String(e.detail?.to) as never)) return undefined;
      const tags = await lookups.tagsOf(repository, e.digest);
      return { kind: 'copy', repository, digest: e.digest, tags, withReferrers: true, via };
    }
    case 'manifest.delete':
      return target.deletes && e.digest ? { kind: 'delete', repository, reference: e.digest, via } : undefined;
    case 'tag.delete':
      return target.deletes && e.tag ? { kind: 'delete', repository, reference: e.tag, via } : undefined;
    default:
      return undefined;
  }
}
