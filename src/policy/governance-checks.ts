import { OciError } from '../oci/errors';
import type { Catalog } from '../catalog/catalog';
import type { ArtifactIndex } from '../catalog/artifact-index';
import type { AuditLog } from '../audit/audit-log';
import { auditChange } from '../audit/actor-events';
import type { Actor } from '../core/actor';
import type { RegistryHooks } from '../core/hooks';
import { immutableTag, quotaFor, type Governance } from './governance';

const GiB = 1024 ** 3;
const human = (n: number) => (n >= GiB ? `${(n / GiB).toFixed(2)} GiB` : `${(n / 1024 ** 2).toFixed(1)} MiB`);

/** What the governance checks read: the rules in force, usage and tags, links, and the log refusals go to. */
export interface GovernanceDeps {
  governance: Pick<Governance, 'current'>;
  artifacts: Pick<ArtifactIndex, 'tags' | 'usage'>;
  catalog: Pick<Catalog, 'getBlobLink'>;
  audit: Pick<AuditLog, 'append'>;
}

/**
 * A governance refusal: recorded in the audit log (who tried what, which rule said no), then answered
 * as DENIED with the rule and what to do in the detail.
 */
export async function governanceDenied(
  audit: Pick<AuditLog, 'append'>,
  actor: Actor,
  e: {
    rule: string;
    message: string;
    repository: string;
    digest?: string;
    tag?: string;
    action: string;
    detail?: Record<string, string | number | boolean | null>;
  },
): Promise<OciError> {
  await auditChange(audit, actor, {
    type: 'governance.denied',
    action: e.action,
    repository: e.repository,
    ...(e.digest ? { digest: e.digest } : {}),
    ...(e.tag ? { tag: e.tag } : {}),
    decision: 'deny',
    detail: { rule: e.rule, reason: e.message.slice(0, 500), ...(e.detail ?? {}) },
  });
  return new OciError('DENIED', e.message, { rule: e.rule, ...(e.detail ?? {}) });
}

/** An immutable tag, once set, is neither moved to another digest nor deleted. */
async function assertTagMayChange(
  s: GovernanceDeps,
  actor: Actor,
  repository: string,
  tag: string,
  current: string | undefined,
  next: string | undefined,
): Promise<void> {
  if (current === undefined || current === next) return;
  const rule = immutableTag(s.governance.current(), repository, tag);
  if (!rule) return;
  throw await governanceDenied(s.audit, actor, {
    rule: 'immutable-tag',
    action: next ? 'tag' : 'delete',
    repository,
    tag,
    digest: current,
    message: `tag ${tag} is immutable in ${repository} (pattern ${rule}): it points at ${current} and cannot be ${next ? 'moved' : 'deleted'}; push under a new tag`,
    detail: { pattern: rule, current, ...(next ? { attempted: next } : {}) },
  });
}

/**
 * Before a manifest is deleted: none of the tags that go with it may be immutable. Nothing is read when
 * no tag is immutable anywhere.
 */
async function assertTagsMayGo(s: GovernanceDeps, actor: Actor, repository: string, digest: string): Promise<void> {
  if (s.governance.current().immutableTags.length === 0) return;
  for (const tag of await s.artifacts.tags(repository, digest))
    await assertTagMayChange(s, actor, repository, tag, digest, undefined);
}

/**
 * Refuses a new manifest when its namespace already holds as many as its quota allows. `isNew` is asked
 * only where a quota applies: a push elsewhere pays nothing.
 */
async function assertArtifactQuota(
  s: GovernanceDeps,
  actor: Actor,
  repository: string,
  digest: string,
  isNew: () => Promise<boolean>,
): Promise<void> {
  const q = quotaFor(s.governance.current(), repository);
  if (!q?.maxArtifacts || !(await isNew())) return;
  const used = await s.artifacts.usage(q.namespace);
  if (used.artifacts < q.maxArtifacts) return;
  throw await governanceDenied(s.audit, actor, {
    rule: 'quota',
    action: 'push',
    repository,
    digest,
    message: `artifact quota of namespace ${q.namespace} reached: ${used.artifacts} of ${q.maxArtifacts} artifacts; delete some or ask for a larger quota`,
    detail: { namespace: q.namespace, usedArtifacts: used.artifacts, maxArtifacts: q.maxArtifacts },
  });
}

/**
 * Refuses a blob that would take its namespace over the byte quota (`size` 0: already over it, for a
 * refusal before the bytes are sent). A blob the repository already links adds nothing.
 */
async function assertByteQuota(
  s: GovernanceDeps,
  actor: Actor,
  repository: string,
  digest: string | undefined,
  size: number,
): Promise<void> {
  const q = quotaFor(s.governance.current(), repository);
  if (!q?.maxBytes) return;
  if (digest && (await s.catalog.getBlobLink(repository, digest))) return;
  const used = await s.artifacts.usage(q.namespace);
  if (size === 0 ? used.bytes < q.maxBytes : used.bytes + size <= q.maxBytes) return;
  throw await governanceDenied(s.audit, actor, {
    rule: 'quota',
    action: 'push',
    repository,
    ...(digest ? { digest } : {}),
    message: `storage quota of namespace ${q.namespace} exceeded: ${human(used.bytes)} used of ${human(q.maxBytes)}${size ? `, this blob needs ${human(size)}` : ''}`,
    detail: {
      namespace: q.namespace,
      usedBytes: used.bytes,
      maxBytes: q.maxBytes,
      ...(size ? { requestedBytes: size } : {}),
    },
  });
}

/**
 * Retired artifacts are served only to those who may approve in the repository (to inspect or restore
 * them), never to ordinary readers; deprecated ones are served with a warning a client can surface.
 */
function lifecycleOnRead(
  repository: string,
  m: { digest: string; stage?: string; stageReason?: string },
  actor: Actor,
): { stage: string; reason?: string } | undefined {
  if (m.stage !== 'retired' && m.stage !== 'deprecated') return undefined;
  const reason = m.stageReason
    ?.replace(/[^\x20-\x7e]/g, '?')
    .replace(/"/g, "'")
    .slice(0, 200);
  if (m.stage === 'retired' && !actor.can('approve', repository)) {
    throw new OciError(
      'DENIED',
      `${repository}@${m.digest} is retired and no longer served${reason ? `: ${reason}` : ''}`,
      {
        stage: 'retired',
        digest: m.digest,
      },
    );
  }
  return { stage: m.stage, ...(reason ? { reason } : {}) };
}

/** Immutable tags, quotas and lifecycle stages, as checks on every operation they govern. */
export function registerGovernanceChecks(hooks: RegistryHooks, s: GovernanceDeps): void {
  hooks.manifestPut.check('immutable-tag', 'governance', async (m, actor) => {
    if (m.tag) await assertTagMayChange(s, actor, m.repository, m.tag, m.previous, m.digest);
  });
  hooks.manifestPut.check('artifact-quota', 'quota', (m, actor) =>
    assertArtifactQuota(s, actor, m.repository, m.digest, m.isNew),
  );
  hooks.manifestDelete.check('immutable-tag', 'governance', (d, actor) =>
    d.digest
      ? assertTagsMayGo(s, actor, d.repository, d.digest)
      : assertTagMayChange(s, actor, d.repository, d.tag!, d.tagged, undefined),
  );
  hooks.manifestGet.check('lifecycle-stage', 'governance', (r, actor) => {
    const lifecycle = lifecycleOnRead(r.repository, r.manifest, actor);
    if (lifecycle) r.findings.lifecycle = lifecycle;
  });
  hooks.uploadBegin.check('byte-quota', 'quota', (u, actor) => assertByteQuota(s, actor, u.repository, undefined, 0));
  hooks.blobCommit.check('byte-quota', 'quota', (b, actor) =>
    assertByteQuota(s, actor, b.repository, b.digest, b.size),
  );
  hooks.blobMount.check('byte-quota', 'quota', (b, actor) => assertByteQuota(s, actor, b.repository, b.digest, b.size));
}
