import { OciError } from '../oci/errors';
import type { RequestContext } from '../http/context';
import { immutableTag, quotaFor } from '../policy/governance';
import { auditChange } from './audit-trail';
import type { Services } from './services';

const GiB = 1024 ** 3;
const human = (n: number) => (n >= GiB ? `${(n / GiB).toFixed(2)} GiB` : `${(n / 1024 ** 2).toFixed(1)} MiB`);

/**
 * A governance refusal: recorded in the audit log (who tried what, which rule said no), then answered
 * as DENIED with the rule and what to do in the detail.
 */
export async function governanceDenied(
  s: Services,
  ctx: RequestContext,
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
  await auditChange(s, ctx, {
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
export async function assertTagMayChange(
  s: Services,
  ctx: RequestContext,
  repository: string,
  tag: string,
  current: string | undefined,
  next: string | undefined,
): Promise<void> {
  if (current === undefined || current === next) return;
  const rule = immutableTag(s.governance.current(), repository, tag);
  if (!rule) return;
  throw await governanceDenied(s, ctx, {
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
export async function assertTagsMayGo(
  s: Services,
  ctx: RequestContext,
  repository: string,
  digest: string,
): Promise<void> {
  if (s.governance.current().immutableTags.length === 0) return;
  for (const tag of await s.artifacts.tags(repository, digest))
    await assertTagMayChange(s, ctx, repository, tag, digest, undefined);
}

/**
 * Refuses a new manifest when its namespace already holds as many as its quota allows. `isNew` is asked
 * only where a quota applies: a push elsewhere pays nothing.
 */
export async function assertArtifactQuota(
  s: Services,
  ctx: RequestContext,
  repository: string,
  digest: string,
  isNew: () => Promise<boolean>,
): Promise<void> {
  const q = quotaFor(s.governance.current(), repository);
  if (!q?.maxArtifacts || !(await isNew())) return;
  const used = await s.artifacts.usage(q.namespace);
  if (used.artifacts < q.maxArtifacts) return;
  throw await governanceDenied(s, ctx, {
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
export async function assertByteQuota(
  s: Services,
  ctx: RequestContext,
  repository: string,
  digest: string | undefined,
  size: number,
): Promise<void> {
  const q = quotaFor(s.governance.current(), repository);
  if (!q?.maxBytes) return;
  if (digest && (await s.catalog.getBlobLink(repository, digest))) return;
  const used = await s.artifacts.usage(q.namespace);
  if (size === 0 ? used.bytes < q.maxBytes : used.bytes + size <= q.maxBytes) return;
  throw await governanceDenied(s, ctx, {
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
