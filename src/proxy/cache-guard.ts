import type { Actor } from '../core/actor';
import type { RegistryHooks } from '../core/hooks';
import { OciError } from '../oci/errors';
import type { PullThrough } from './pull-through';

/**
 * A pull-through cache's namespace holds the upstream's content only: pushes, mounts and uploads into
 * it are refused (so nothing local can pass for the upstream's). Deletes stay allowed: an operator may
 * purge a cached artifact, and the next pull fetches it again.
 */
export function registerCacheGuard(hooks: RegistryHooks, cache: Pick<PullThrough, 'covers' | 'isCache'>): void {
  const refuse = (repository: string, actor: Actor) => {
    if (cache.covers(repository) && !cache.isCache(actor))
      throw new OciError('DENIED', 'this repository is a pull-through cache: only the upstream registry fills it', {
        repository,
      });
  };
  hooks.manifestPut.check('pull-through-cache', 'governance', (m, actor) => refuse(m.repository, actor));
  hooks.uploadBegin.check('pull-through-cache', 'governance', (u, actor) => refuse(u.repository, actor));
  hooks.blobCommit.check('pull-through-cache', 'governance', (b, actor) => refuse(b.repository, actor));
  hooks.blobMount.check('pull-through-cache', 'governance', (b, actor) => refuse(b.repository, actor));
}
