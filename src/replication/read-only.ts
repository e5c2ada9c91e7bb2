import type { RegistryHooks } from '../core/hooks';
import { OciError } from '../oci/errors';

/**
 * A read-only region refuses every change before anything else runs, naming the primary that takes
 * it: its catalog is a hot standby, and a write that got as far as the database would only fail there.
 */
export function registerReadOnly(hooks: RegistryHooks, primary: string): void {
  const refuse = () => {
    throw new OciError('READ_ONLY', `this registry is a read-only region; push to the primary, ${primary}`, {
      primary,
    });
  };
  hooks.manifestPut.check('read-only', 'validation', refuse);
  hooks.manifestDelete.check('read-only', 'validation', refuse);
  hooks.uploadBegin.check('read-only', 'validation', refuse);
  hooks.blobCommit.check('read-only', 'validation', refuse);
  hooks.blobMount.check('read-only', 'validation', refuse);
  hooks.blobDelete.check('read-only', 'validation', refuse);
  hooks.stageMove.check('read-only', 'validation', refuse);
  hooks.compromise.check('read-only', 'validation', refuse);
}
