import type { ChangeFeed } from './changes';
import type { RegistryHooks } from './hooks';

/**
 * Publishes every committed change on the feed, last of the effects (after the audit event): a consumer
 * that sees a change can find it in the log. A listener's failure does not undo the change.
 */
export function registerChangeHooks(hooks: RegistryHooks, feed: ChangeFeed): void {
  hooks.manifestPut.after(
    'change-feed',
    'changes',
    (m, actor) =>
      feed.publish(
        {
          type: 'manifest.push',
          repository: m.repository,
          digest: m.digest,
          mediaType: m.parsed.mediaType,
          size: m.size,
          ...(m.tag ? { tag: m.tag } : {}),
          ...(m.parsed.subject ? { subject: m.parsed.subject.digest } : {}),
        },
        actor.id,
      ),
    'logged',
  );
  hooks.manifestDelete.after(
    'change-feed',
    'changes',
    (d, actor) =>
      feed.publish(
        d.digest
          ? { type: 'manifest.delete', repository: d.repository, digest: d.digest }
          : { type: 'tag.delete', repository: d.repository, tag: d.tag!, ...(d.tagged ? { digest: d.tagged } : {}) },
        actor.id,
      ),
    'logged',
  );
  hooks.blobCommit.after(
    'change-feed',
    'changes',
    (b, actor) =>
      feed.publish({ type: 'blob.push', repository: b.repository, digest: b.digest, size: b.size }, actor.id),
    'logged',
  );
  hooks.blobMount.after(
    'change-feed',
    'changes',
    (b, actor) =>
      feed.publish(
        { type: 'blob.mount', repository: b.repository, digest: b.digest, size: b.size, from: b.from },
        actor.id,
      ),
    'logged',
  );
  hooks.blobDelete.after(
    'change-feed',
    'changes',
    (b, actor) => feed.publish({ type: 'blob.delete', repository: b.repository, digest: b.digest }, actor.id),
    'logged',
  );
  hooks.stageMove.after(
    'change-feed',
    'changes',
    (m, actor) =>
      m.moved
        ? feed.publish(
            {
              type: 'artifact.stage',
              repository: m.artifact.repository,
              digest: m.artifact.digest,
              from: m.artifact.stage,
              to: m.verdict.stage,
            },
            actor.id,
          )
        : undefined,
    'logged',
  );
  hooks.compromise.after(
    'change-feed',
    'changes',
    (c, actor) =>
      feed.publish(
        { type: 'artifact.compromised', repository: c.artifact.repository, digest: c.artifact.digest },
        actor.id,
      ),
    'logged',
  );
}
