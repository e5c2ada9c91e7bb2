/**
 * Catalog: the metadata database. Which repositories exist, which blobs each may see, the manifests and
 * tags in each, and the referrers index (subject digest -> manifests). One implementation on Kysely, over
 * SQLite (embedded default) and PostgreSQL; both pass test/contracts/catalog.contract.ts.
 *
 * Garbage collection is safe while serving because every writer that makes a blob reachable "touches" a
 * timestamp on the row it relies on, inside the transaction that relies on it, and the collector deletes
 * only rows untouched since its cutoff, re-checked under the row's lock (see docs/architecture.md).
 */
export interface BlobRef {
  digest: string;
  size: number;
}

export interface ManifestRecord {
  digest: string;
  mediaType: string;
  size: number;
  /** The exact bytes the client sent; served back unchanged. */
  content: Buffer;
  /** For the referrers index: artifactType, or for an image manifest without one, config.mediaType. */
  artifactType?: string;
  /** Digest of the `subject` descriptor, when the manifest has one. */
  subject?: string;
  annotations?: Record<string, string>;
  /** Blobs the manifest references (config, layers); each must be linked in the repository. */
  blobs: string[];
  /** Manifests an index references; each must exist in the repository. */
  manifests: string[];
  /** What the artifacts layer extracted: stored with the manifest, in the same transaction. */
  artifact?: ArtifactRecord;
  /**
   * A pull-through cache's copy: its blobs and child manifests need not be here yet (they are fetched
   * from the upstream when first read), so missing references are not refused.
   */
  lazy?: boolean;
}

/** The searchable metadata of a manifest, and the lineage edges it declares (see artifact-index.ts). */
export interface ArtifactRecord {
  kind: string;
  family: string;
  name?: string;
  version?: string;
  framework?: string;
  license?: string;
  sensitivity?: string;
  pushedBy: string;
  /** Config and layers, summed. */
  totalSize: number;
  /** The whole extracted metadata, as JSON. */
  metadata: string;
  annotations: Record<string, string>;
  metrics: Record<string, number>;
  edges: { relation: string; repository?: string; digest: string }[];
}

export interface StoredManifest {
  digest: string;
  mediaType: string;
  size: number;
  content: Buffer;
  /** Lifecycle stage (draft, candidate, approved, deprecated, retired) and why it was set. */
  stage?: string;
  stageReason?: string;
}

export interface ReferrerDescriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}

export interface Page {
  /** At most this many entries; undefined = all. */
  n?: number;
  /** Entries strictly after this one, in lexical order. */
  last?: string;
}

/** Thrown by putManifest when references are missing from the repository. Nothing was written. */
export class MissingReferences extends Error {
  constructor(
    readonly blobs: string[],
    readonly manifests: string[],
  ) {
    super(`missing references: ${[...blobs, ...manifests].join(', ')}`);
    this.name = 'MissingReferences';
  }
}

/** A manifest the registry writes itself (a receipt), with the small blobs it references. */
export interface IssuedManifest {
  repository: string;
  /** Linked before the manifest; `commit` as in linkBlob. */
  blobs: { ref: BlobRef; commit?: () => Promise<void> }[];
  manifest: ManifestRecord;
}

export interface Catalog {
  readonly kind: 'sqlite' | 'postgres';
  /** Opens the database and applies migrations. */
  init(): Promise<void>;
  close(): Promise<void>;

  repositoryExists(name: string): Promise<boolean>;
  /** Repository names in lexical order. */
  listRepositories(page: Page): Promise<string[]>;

  /**
   * Makes the blob visible in the repository (creating the repository when new). `commit`, when given,
   * runs first, inside the transaction that protects the blob from the collector (it typically moves the
   * verified bytes into the BlobStore); the link is written only when it succeeds. Idempotent.
   */
  linkBlob(repository: string, blob: BlobRef, commit?: () => Promise<void>): Promise<void>;
  /** The linked blob's size, or undefined when the blob is not visible in the repository. */
  getBlobLink(repository: string, digest: string): Promise<BlobRef | undefined>;
  /** Removes the blob from the repository (the bytes go when the collector finds them unreferenced). */
  unlinkBlob(repository: string, digest: string): Promise<boolean>;

  /**
   * Stores the manifest (idempotent for the same digest) and, when `tag` is given, points the tag at it,
   * in one transaction. Throws MissingReferences (writing nothing) when a blob is not linked or a child
   * manifest does not exist in the repository.
   */
  putManifest(repository: string, manifest: ManifestRecord, tag?: string): Promise<void>;
  /**
   * Links each entry's blobs and stores its manifest as putManifest does, every entry in one transaction
   * (all or nothing): a batch of receipts costs one commit instead of three a receipt.
   */
  putIssued(entries: IssuedManifest[]): Promise<void>;
  /** By digest (`sha256:…`) or by tag. */
  getManifest(repository: string, reference: string): Promise<StoredManifest | undefined>;
  /** Removes the manifest, every tag pointing at it, and its place in the referrers index. */
  deleteManifest(repository: string, digest: string): Promise<boolean>;
  /** Removes only the tag. */
  deleteTag(repository: string, tag: string): Promise<boolean>;
  listTags(repository: string, page: Page): Promise<string[]>;
  /** The tags pointing at the manifest, in lexical order (replication carries them with it). */
  tagsOf(repository: string, digest: string): Promise<string[]>;
  /** Manifests in the repository whose subject is `subject`, optionally only of one artifactType. */
  listReferrers(repository: string, subject: string, artifactType?: string): Promise<ReferrerDescriptor[]>;

  /**
   * Takes (or renews, for the same holder) a named lease for ttlMs, shared by every replica: the
   * garbage collector holds one so that two runs never work at once. False when another holder has it.
   */
  acquireLease(name: string, holder: string, ttlMs: number): Promise<boolean>;
  releaseLease(name: string, holder: string): Promise<void>;
  /**
   * A named position in a sequence a background job works through (the receipt issuer's place in the
   * audit log), shared by every replica; undefined until first written. Written by the lease holder only.
   */
  readCursor(name: string): Promise<number | undefined>;
  writeCursor(name: string, position: number): Promise<void>;

  /**
   * Where a blob is used, across repositories: the repositories linking it, and the manifests referencing
   * it (as a layer or config) with their tags. For crypto-shredding, which must know what it destroys.
   */
  blobUsage(digest: string): Promise<{
    linkedIn: string[];
    manifests: { repository: string; digest: string; tags: string[] }[];
  }>;

  /** Removes blob links that no manifest of their repository references and nobody touched since `cutoff`. */
  sweepLinks(cutoff: Date): Promise<number>;
  /**
   * Collects a stored blob if no repository links it and nothing touched it since `cutoff`: runs `remove`
   * (which deletes the bytes) under the blob's lock, so a concurrent linkBlob waits and re-creates it.
   * Returns whether it was collected.
   */
  collectBlob(digest: string, cutoff: Date, remove: () => Promise<void>): Promise<boolean>;
}
