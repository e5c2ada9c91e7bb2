import { OciError } from '../oci/errors';
import type { Catalog } from '../catalog/catalog';
import { BlobNotFound, type BlobStore } from '../storage/blob-store';
import type { Actor } from './actor';
import type { RegistryHooks } from './hooks';
import type { BlobCommitIntent, BlobRead } from './intents';

/** The quarantine as the core needs it: a pushed blob replaces a corrupt stored copy. */
export interface QuarantineView {
  has(digest: string): Promise<boolean>;
  clear(digest: string): Promise<void>;
}

export interface BlobStores {
  catalog: Catalog;
  blobs: BlobStore;
  quarantine: QuarantineView;
}

type EffectErrors = (operation: string, effect: string, err: unknown) => void;

export function blobUnknown(repository: string, digest: string): OciError {
  return new OciError('BLOB_UNKNOWN', 'blob unknown to registry', { repository, digest });
}

/** Received bytes, ready to become a blob. */
export interface StagedBlob extends BlobCommitIntent {
  /**
   * Makes the verified bytes the blob in the store (a staged upload's stageCommit, a direct write's
   * publish), under the blob's catalog lock; throws StoredSizeMismatch when the store cannot prove it.
   */
  place(): Promise<unknown>;
  /** The digest of what was staged, computed by the caller's means (streamed hash, or a re-read). */
  actualDigest(): Promise<string>;
  /** The caller's own bookkeeping once the bytes are the blob, before the effects (the session ends). */
  onLinked?(): Promise<void>;
}

/** Commit, mount, delete and read of blobs: checks, the catalog link, then the effects. */
export class BlobOperations {
  constructor(
    private readonly s: BlobStores,
    private readonly hooks: RegistryHooks,
    private readonly onEffectError: EffectErrors,
  ) {}

  /** Before an upload session opens: a namespace at its quota is told so before the bytes are sent. */
  async admitUpload(actor: Actor, repository: string): Promise<void> {
    await this.hooks.uploadBegin.runChecks({ repository }, actor);
  }

  /**
   * Makes staged bytes a blob of the repository. Verified before acknowledged: the digest of what was
   * staged must match, and the store proves it holds `size` bytes (StoredSizeMismatch otherwise) before
   * the link exists.
   */
  async commit(actor: Actor, staged: StagedBlob): Promise<void> {
    const actual = await staged.actualDigest();
    if (actual !== staged.digest) {
      throw new OciError('DIGEST_INVALID', 'uploaded content does not match the digest', {
        expected: staged.digest,
        actual,
        size: staged.size,
      });
    }
    const intent: BlobCommitIntent = {
      repository: staged.repository,
      digest: staged.digest,
      size: staged.size,
      upload: staged.upload,
    };
    await this.hooks.blobCommit.runChecks(intent, actor);
    const { catalog, blobs, quarantine } = this.s;
    // A push of a quarantined blob (verified above) replaces the corrupt stored copy instead of keeping it.
    const replacing = await quarantine.has(intent.digest);
    await catalog.linkBlob(intent.repository, { digest: intent.digest, size: intent.size }, async () => {
      if (replacing) await blobs.delete(intent.digest);
      await staged.place();
    });
    if (replacing) await quarantine.clear(intent.digest);
    await staged.onLinked?.();
    await this.hooks.blobCommit.runEffects(intent, actor, this.onEffectError);
  }

  /**
   * Links a blob another repository has, when the actor may read it there; false when it cannot (the
   * spec then asks for a plain upload session). The bytes are re-checked under the blob's catalog lock:
   * the collector may have taken them since the source link was read, and a link to nothing must never
   * appear.
   */
  async mount(actor: Actor, repository: string, from: string, digest: string): Promise<boolean> {
    if (!actor.can('pull', from)) return false;
    const link = await this.s.catalog.getBlobLink(from, digest);
    if (!link) return false;
    const intent = { repository, from, digest, size: link.size };
    await this.hooks.blobMount.runChecks(intent, actor);
    try {
      await this.s.catalog.linkBlob(repository, link, async () => {
        // With storage routes, a repository of another route gets its own copy of the bytes.
        if (this.s.blobs.adopt) await this.s.blobs.adopt(digest);
        if (!(await this.s.blobs.stat(digest))) throw new BlobNotFound(digest);
      });
    } catch (err) {
      if (err instanceof BlobNotFound) return false;
      throw err;
    }
    await this.hooks.blobMount.runEffects(intent, actor, this.onEffectError);
    return true;
  }

  /** Unlinks a blob from the repository; the collector reclaims the bytes. */
  async delete(actor: Actor, repository: string, digest: string): Promise<void> {
    const intent = { repository, digest };
    await this.hooks.blobDelete.runChecks(intent, actor);
    if (!(await this.s.catalog.unlinkBlob(repository, digest))) throw blobUnknown(repository, digest);
    await this.hooks.blobDelete.runEffects(intent, actor, this.onEffectError);
  }

  /**
   * The blob a read may serve: linked in the repository and not quarantined. The bytes themselves stream
   * through the caller, verified on the way; `served` runs the read effects once they have been sent.
   */
  async open(
    actor: Actor,
    repository: string,
    digest: string,
  ): Promise<{ size: number; served: (partial: boolean) => void }> {
    const link = await this.s.catalog.getBlobLink(repository, digest);
    if (!link) throw blobUnknown(repository, digest);
    if (await this.s.quarantine.has(digest)) {
      throw new OciError(
        'BLOB_UNKNOWN',
        'the stored copy of this blob is corrupt and quarantined; push it again to replace it',
        { repository, digest, quarantined: true },
      );
    }
    const read: BlobRead = { repository, digest, size: link.size, partial: false };
    await this.hooks.blobGet.runChecks(read, actor);
    return {
      size: link.size,
      served: (partial) =>
        void this.hooks.blobGet
          .runEffects({ ...read, partial }, actor, this.onEffectError)
          .catch((err) => this.onEffectError('blob.get', 'effects', err)),
    };
  }
}
