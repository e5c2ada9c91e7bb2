import type { RegistryHooks } from '../core/hooks';
import type { Actor } from '../core/actor';
import { OciError } from '../oci/errors';

/**
 * A replicated change that names this registry in its path came back to where it started: writing it
 * again could move a tag back to where it was (two registries replicating to each other). Refused first,
 * before any other check, so the sender can tell it apart and skip it.
 */
export function registerLoopCheck(hooks: RegistryHooks, self: string): void {
  const refuse = (actor: Actor) => {
    if (actor.replicatedVia?.includes(self))
      throw new OciError('REPLICATION_LOOP', `this change was replicated from ${self} itself`, {
        registry: self,
        via: actor.replicatedVia.join(','),
      });
  };
  hooks.manifestPut.check('replication-loop', 'validation', (_m, actor) => refuse(actor));
  hooks.manifestDelete.check('replication-loop', 'validation', (_d, actor) => refuse(actor));
}
