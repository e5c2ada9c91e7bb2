import type { Actor } from '../core/actor';
import type { RegistryHooks } from '../core/hooks';
import type { AuditLog } from './audit-log';
import { auditChange, PullRecorder } from './actor-events';

/** The registries a replicated change came through: replication never sends it back to them. */
const via = (actor: Actor): { replicatedVia?: string } =>
  actor.replicatedVia?.length ? { replicatedVia: actor.replicatedVia.join(',') } : {};

const viaDetail = (actor: Actor) => (actor.replicatedVia?.length ? { detail: via(actor) } : {});

/**
 * Every committed change is an audit event, appended before the client is answered (a failed append
 * fails the request: success means it is in the log); pulls are recorded without waiting, when
 * `pulls` is on.
 */
export function registerAuditHooks(hooks: RegistryHooks, audit: AuditLog, options: { pulls: boolean }): void {
  hooks.manifestPut.after('audit', 'audit', async (m, actor) => {
    const record = m.artifact;
    m.auditSeq = await auditChange(audit, actor, {
      type: 'manifest.push',
      action: 'push',
      repository: m.repository,
      digest: m.digest,
      ...(m.tag ? { tag: m.tag } : {}),
      detail: {
        mediaType: m.parsed.mediaType,
        size: m.size,
        kind: record.kind,
        ...(m.previous && m.previous !== m.digest ? { previousDigest: m.previous } : {}),
        ...(m.parsed.subject ? { subject: m.parsed.subject.digest } : {}),
        ...via(actor),
        ...(record.edges.length
          ? {
              lineage: record.edges
                .map((e) => `${e.relation} ${e.repository ? `${e.repository}@` : ''}${e.digest}`)
                .join(', ')
                .slice(0, 2000),
            }
          : {}),
      },
    });
  });
  hooks.manifestDelete.after('audit', 'audit', async (d, actor) => {
    await auditChange(
      audit,
      actor,
      d.digest
        ? { type: 'manifest.delete', action: 'delete', repository: d.repository, digest: d.digest, ...viaDetail(actor) }
        : {
            type: 'tag.delete',
            action: 'delete',
            repository: d.repository,
            tag: d.tag!,
            ...(d.tagged ? { digest: d.tagged } : {}),
            ...viaDetail(actor),
          },
    );
  });
  // A blob change: its type and action, and what else the event says (how it arrived, from where).
  const blobEvent =
    (type: string, action: string) =>
    async (b: { repository: string; digest: string }, actor: Actor, detail?: Record<string, string | number>) => {
      await auditChange(audit, actor, {
        type,
        action,
        repository: b.repository,
        digest: b.digest,
        ...(detail ? { detail } : {}),
      });
    };
  const pushed = blobEvent('blob.push', 'push');
  const mounted = blobEvent('blob.mount', 'push');
  const deleted = blobEvent('blob.delete', 'delete');
  hooks.blobCommit.after('audit', 'audit', (b, actor) => pushed(b, actor, { size: b.size, upload: b.upload }));
  hooks.blobMount.after('audit', 'audit', (b, actor) => mounted(b, actor, { from: b.from, size: b.size }));
  hooks.blobDelete.after('audit', 'audit', (b, actor) => deleted(b, actor));
  hooks.stageMove.after('audit', 'audit', async (m, actor) => {
    const { artifact: a, verdict } = m;
    await auditChange(audit, actor, {
      type: m.moved ? 'lifecycle.stage' : 'lifecycle.approve',
      action: m.to === 'draft' || m.to === 'candidate' ? 'push' : 'approve',
      repository: a.repository,
      digest: a.digest,
      decision: 'allow',
      detail: {
        from: a.stage,
        to: verdict.stage,
        ...(m.reason ? { reason: m.reason.slice(0, 500) } : {}),
        ...(m.approving ? { approvals: verdict.approvals.join(','), required: verdict.required } : {}),
      },
    });
  });
  hooks.compromise.after('audit', 'audit', async (c, actor) => {
    await auditChange(audit, actor, {
      type: 'artifact.compromised',
      action: 'approve',
      repository: c.artifact.repository,
      digest: c.artifact.digest,
      decision: 'allow',
      detail: { reason: c.reason.slice(0, 500) },
    });
  });
  if (!options.pulls) return;
  const pulls = new PullRecorder(audit);
  hooks.manifestGet.after(
    'audit-pull',
    'audit',
    (r, actor) =>
      pulls.record(actor, {
        repository: r.repository,
        digest: r.manifest.digest,
        ...(r.manifest.digest === r.reference ? {} : { tag: r.reference }),
      }),
    'logged',
  );
  hooks.blobGet.after(
    'audit-pull',
    'audit',
    (b, actor) => {
      if (!b.partial) pulls.record(actor, { repository: b.repository, digest: b.digest });
    },
    'logged',
  );
}
