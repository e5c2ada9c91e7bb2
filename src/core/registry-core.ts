import type { Logger } from '../observability/logger';
import { BlobOperations, type BlobStores } from './blob-operations';
import { ChangeFeed } from './changes';
import { registerChangeHooks } from './change-hooks';
import { RegistryHooks } from './hooks';
import { ManifestOperations } from './manifest-operations';
import { LifecycleOperations } from './lifecycle-operations';
import type { ArtifactIndex } from '../catalog/artifact-index';

/**
 * The registry's operations, the one path every caller goes through: the /v2 handlers, Cairn's API,
 * the CLI and the registry's own background work. Features plug in as checks and effects on `hooks`.
 */
export class RegistryCore {
  readonly hooks = new RegistryHooks();
  readonly changes = new ChangeFeed();
  readonly manifests: ManifestOperations;
  readonly blobs: BlobOperations;
  readonly lifecycle: LifecycleOperations;

  constructor(
    stores: BlobStores & { artifacts: Pick<ArtifactIndex, 'transition' | 'markCompromised'> },
    logger: Pick<Logger, 'error'>,
  ) {
    // An effect whose failure does not undo the commit is logged with the operation it belongs to.
    const onEffectError = (operation: string, effect: string, err: unknown) =>
      logger.error({ err: err instanceof Error ? err.message : String(err), operation, effect }, 'effect failed');
    this.manifests = new ManifestOperations(stores, this.hooks, onEffectError);
    this.blobs = new BlobOperations(stores, this.hooks, onEffectError);
    this.lifecycle = new LifecycleOperations(stores.artifacts, this.hooks, onEffectError);
    registerChangeHooks(this.hooks, this.changes);
  }
}
