import type { Catalog } from '../catalog/catalog';
import type { BlobStore } from '../storage/blob-store';
import { parseManifest } from '../oci/manifest-parser';
import type { ReplicationTarget } from './target';

export interface CopySource {
  catalog: Pick<Catalog, 'getManifest' | 'getBlobLink' | 'listReferrers' | 'blobUsage'>;
  blobs: Pick<BlobStore, 'read'>;
}

/** This registry no longer holds what the change needs (deleted since): nothing to send. */
export class SourceGone extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SourceGone';
  }
}

export interface CopyCounts {
  manifests: number;
  blobs: number;
  mounted: number;
  present: number;
  bytes: number;
}

/** Referrers of referrers (a signature of an attestation) are followed this deep. */
const MAX_REFERRER_DEPTH = 3;

/**
 * Copies one manifest with everything it needs to the target: child manifests and blobs first (each
 * skipped when the target has it, mounted when one of its other repositories has it, else streamed
 * from the store), then the manifest under each reference. The target checks every digest itself.
 */
export class ArtifactCopier {
  readonly counts: CopyCounts = { manifests: 0, blobs: 0, mounted: 0, present: 0, bytes: 0 };

  constructor(
    private readonly s: CopySource,
    private readonly target: ReplicationTarget,
    /** Whether a repository is replicated to this target (a mount source must be). */
    private readonly replicated: (repository: string) => boolean,
    /** Sent as Cairn-Replicated-Via: the registries the change passed through, this one last. */
    private readonly via: string[],
  ) {}

  /**
   * Copies `digest` of `repository` and points `tags` at it; with `withReferrers`, also what refers to it
   * (signatures, attestations, receipts). False when the target said the change came from it (a loop).
   */
  async copy(repository: string, digest: string, tags: string[], withReferrers: boolean, depth = 0): Promise<boolean> {
    const m = await this.s.catalog.getManifest(repository, digest);
    if (!m) throw new SourceGone(`${repository}@${digest} is no longer stored here`);
    const parsed = parseManifest(m.content, m.mediaType);
    for (const child of parsed.manifests) await this.copy(repository, child, [], false, depth);
    for (const blob of parsed.blobs) await this.blob(repository, blob);
    for (const reference of tags.length ? tags : [digest]) {
      if ((await this.target.manifestDigest(repository, reference, m.mediaType)) === digest) continue;
      if (!(await this.target.putManifest(repository, reference, m.content, m.mediaType, this.via))) return false;
      this.counts.manifests++;
    }
    if (withReferrers && depth < MAX_REFERRER_DEPTH) {
      for (const r of await this.s.catalog.listReferrers(repository, digest))
        await this.copy(repository, r.digest, [], true, depth + 1);
    }
    return true;
  }

  private async blob(repository: string, digest: string): Promise<void> {
    if (await this.target.hasBlob(repository, digest)) {
      this.counts.present++;
      return;
    }
    const link = await this.s.catalog.getBlobLink(repository, digest);
    if (!link) throw new SourceGone(`blob ${digest} is no longer linked in ${repository}`);
    const from = (await this.s.catalog.blobUsage(digest)).linkedIn.find((r) => r !== repository && this.replicated(r));
    let location: string | undefined;
    if (from) {
      const mounted = await this.target.mount(repository, digest, from);
      if ('mounted' in mounted) {
        this.counts.mounted++;
        return;
      }
      location = mounted.location;
    }
    await this.target.pushBlob(repository, digest, link.size, await this.s.blobs.read(digest), location);
    this.counts.blobs++;
    this.counts.bytes += link.size;
  }
}
