import type { ArtifactRecord, StoredManifest } from '../catalog/catalog';
import type { ArtifactView } from '../catalog/artifact-index';
import type { ParsedManifest } from '../oci/manifest-parser';

/** A manifest about to be stored: what the checks see, and what they may fill in. */
export interface ManifestPutIntent {
  repository: string;
  digest: string;
  tag?: string;
  content: Buffer;
  parsed: ParsedManifest;
  /** Where the tag pointed before this push moves it. */
  previous?: string;
  /** Whether the digest is new to the repository; asked only by the checks that need it. */
  isNew(): Promise<boolean>;
  /**
   * A blob the manifest refers to, as the repository holds it, checked against its digest; undefined when
   * it is larger than `max`. Throws MANIFEST_BLOB_UNKNOWN when the repository does not have it.
   */
  readBlob(digest: string, max: number): Promise<Buffer | undefined>;
  /** What the artifact index stores with the manifest, in the same transaction; set by a validation hook. */
  artifact?: ArtifactRecord;
}

/** A committed manifest push, as the effects see it; they add what they produce. */
export interface ManifestPushed {
  repository: string;
  digest: string;
  tag?: string;
  parsed: ParsedManifest;
  size: number;
  previous?: string;
  artifact: ArtifactRecord;
  /** The push's position in the audit log, set by the audit effect. */
  auditSeq?: number;
}

/** What the read checks found about a manifest that is served: the HTTP layer turns them into headers. */
export interface ReadFindings {
  lifecycle?: { stage: string; reason?: string };
  trust?: { satisfied: boolean; missing: string[] };
}

export interface ManifestRead {
  repository: string;
  reference: string;
  manifest: StoredManifest;
  /** HEAD: the digest and size only. Trust is not enforced on it (signing needs the digest of what it signs). */
  head: boolean;
  findings: ReadFindings;
}

/** A manifest (by digest, with its tags) or a tag about to go. */
export interface ManifestDeleteIntent {
  repository: string;
  digest?: string;
  tag?: string;
  /** For a tag: the digest it points at now. */
  tagged?: string;
}

export interface BlobCommitIntent {
  repository: string;
  digest: string;
  size: number;
  /** How the bytes arrived: monolithic, chunked, streamed. */
  upload: string;
}

export interface BlobMountIntent {
  repository: string;
  from: string;
  digest: string;
  size: number;
}

export interface BlobDeleteIntent {
  repository: string;
  digest: string;
}

/** An upload session about to be opened (before the client sends any byte). */
export interface UploadBeginIntent {
  repository: string;
}

/** A blob served (GET with a body); HEAD is not a pull. */
export interface BlobRead {
  repository: string;
  digest: string;
  size: number;
  /** A range of the blob, not all of it (a resumed or parallel download): not recorded as a pull. */
  partial: boolean;
}

/** A lifecycle move asked for: what the checks see, and what they decide. */
export interface StageMoveIntent {
  /** The artifact as it stands before the move. */
  artifact: ArtifactView;
  to: string;
  reason?: string;
  /** The artifact's standing under the trust policy, set by the trust hook for the rules that need it. */
  trust?: { mode: string; satisfied: boolean; missing: string[]; signatures: number; attestations: string[] };
  /** Where the governance rules let the artifact end (an approval short of the number required stays), set by them. */
  verdict?: { stage: string; approvals: string[]; required: number };
}

export interface StageMoved extends StageMoveIntent {
  verdict: NonNullable<StageMoveIntent['verdict']>;
  /** The stage changed (not only an approval recorded). */
  moved: boolean;
  /** An approval of a candidate. */
  approving: boolean;
}

/** An artifact flagged as compromised (a poisoned dataset, a leaked model), with why. */
export interface CompromiseMark {
  artifact: ArtifactView;
  reason: string;
}
