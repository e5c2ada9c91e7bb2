import type { Readable } from 'node:stream';

/**
 * BlobStore: content-addressed bytes, shared by every repository (which repository may see which blob
 * is the catalog's business, not the store's). Uploads are written to a staging area under an upload id
 * and become visible under a digest only through stageCommit, after the caller has verified the digest,
 * so no partial or wrong blob is ever visible.
 *
 * Every implementation passes test/contracts/blob-store.contract.ts.
 */
export interface BlobInfo {
  digest: string;
  size: number;
}

/** A byte range, both ends inclusive, already validated against the blob's size. */
export interface ByteRange {
  start: number;
  end: number;
}

export interface StagedUpload {
  id: string;
  size: number;
  modifiedAt: Date;
}

export interface AppendResult {
  /** The staged size after the append: every byte up to it was written and passed to onWritten. */
  size: number;
  /** Set when the source failed (client went away) or a write failed; the staged data stays consistent with size. */
  error?: Error;
  /** Which side failed: the client's body ('source') or the store ('store': disk full, S3 refused). */
  failed?: 'source' | 'store';
}

/** Thrown by stageAppend when the staged size is not the offset the caller expected. */
export class StageOffsetMismatch extends Error {
  constructor(
    readonly actual: number,
    readonly expected: number,
  ) {
    super(`staged upload is at ${actual} bytes, not ${expected}`);
    this.name = 'StageOffsetMismatch';
  }
}

/**
 * Thrown by stageCommit when what the store holds is not what was sent: the store did not keep the
 * bytes it was given. Nothing stays visible under the digest; the push must fail.
 */
export class StoredSizeMismatch extends Error {
  constructor(
    readonly key: string,
    readonly expected: number,
    readonly stored: number,
    why?: string,
  ) {
    super(`the store kept ${stored} bytes of ${expected} for ${key}${why ? ` (${why})` : ''}`);
    this.name = 'StoredSizeMismatch';
  }
}

/** Thrown when a blob or staged upload does not exist. */
export class BlobNotFound extends Error {
  constructor(readonly key: string) {
    super(`not found: ${key}`);
    this.name = 'BlobNotFound';
  }
}

/**
 * A whole blob written by writeBlob and not yet visible: the caller checks the digest of what it saw,
 * then publishes it under the digest, or discards it. Exactly one of the two must follow.
 */
export interface PendingBlob {
  /** How far the source got; with `error`, nothing can be published and the caller discards. */
  readonly result: AppendResult;
  /**
   * Makes the bytes the blob `digest` (as stageCommit does: proved to hold `result.size` bytes, else
   * StoredSizeMismatch and nothing visible; an existing copy of the same size stays as it is).
   */
  publish(): Promise<BlobInfo>;
  /** Drops what was written. */
  discard(): Promise<void>;
}

export interface BlobStore {
  /** A short name for logs and metrics: "fs", "s3". */
  readonly kind: string;
  init(): Promise<void>;
  close(): Promise<void>;

  /** Size of the blob, or undefined when it is not stored. */
  stat(digest: string): Promise<BlobInfo | undefined>;
  /** A stream of the blob's bytes (or of a range of them). Throws BlobNotFound. */
  read(digest: string, range?: ByteRange): Promise<Readable>;
  /**
   * Optional fast path for sending a blob (or a range) to a network stream. `beforeWrite` sees every
   * chunk before it is written and, with `last` set, may throw to withhold the final one (a digest
   * mismatch). Implementations reuse a few buffers instead of allocating one per chunk. Throws
   * BlobNotFound before anything is written when the blob is absent.
   */
  sendTo?(
    digest: string,
    range: ByteRange | undefined,
    out: NodeJS.WritableStream,
    beforeWrite?: (chunk: Buffer, last: boolean) => void,
  ): Promise<void>;
  /**
   * Optional: a short-lived URL from which a client can GET the blob directly (an S3 presigned URL), so
   * large pulls bypass the registry. The caller has already checked authorization.
   */
  presignGet?(digest: string, ttlSeconds: number): Promise<string>;
  /**
   * Optional (storage routes): makes the blob present in the backend of the repository in scope, copying
   * it from the route that holds it. A mount calls it before linking.
   */
  adopt?(digest: string): Promise<void>;
  /** Removes the blob; false when it was not there. */
  delete(digest: string): Promise<boolean>;
  /** Every stored blob, for the garbage collector and the scrubber. */
  list(): AsyncIterable<{ digest: string; size: number; modifiedAt: Date }>;

  /** Creates an empty staged upload. */
  stageCreate(id: string): Promise<void>;
  /** Staged size, or undefined when there is no such staged upload. */
  stageSize(id: string): Promise<number | undefined>;
  /**
   * Appends the source's bytes to a staged upload whose size must be `offset` (else StageOffsetMismatch;
   * BlobNotFound when absent). onWritten is called, in order, with each piece of data, so a caller can
   * hash what is stored. A failing source does not throw: the result says how far the data got, and the
   * staged upload keeps exactly that many bytes, a prefix of what was sent. Stores that write pieces as
   * they come (file system) keep every byte that arrived; stores that keep a chunk whole or not at all
   * (S3) may keep none of it, and then onWritten has seen more than `size - offset` bytes: callers
   * compare the counts before trusting a hash.
   */
  stageAppend(
    id: string,
    offset: number,
    source: AsyncIterable<Buffer>,
    onWritten: (chunk: Buffer) => void,
  ): Promise<AppendResult>;
  /**
   * A stream of the staged bytes [start, end) (default: all of them), used to bring a hash state up to
   * date with chunks another process received. Throws BlobNotFound.
   */
  stageRead(id: string, end?: number, start?: number): Promise<Readable>;
  /**
   * Makes the staged bytes the blob `digest` (the caller has verified the digest of `size` bytes) and
   * removes the staged upload. No commit without proof: the staged and then the stored object must hold
   * exactly `size` bytes, else StoredSizeMismatch is thrown and nothing is left under the digest. When a
   * blob of that digest and size already exists the staged copy is simply dropped; one of another size
   * (a copy stored wrong) is replaced. Throws BlobNotFound.
   */
  stageCommit(id: string, digest: string, size: number): Promise<BlobInfo>;
  /**
   * Cuts a staged upload back to its first `size` bytes (no longer than it is, else StageOffsetMismatch;
   * BlobNotFound when absent). Encryption uses it to re-seal a short last segment and to drop a torn
   * write; nothing else shrinks an upload.
   */
  stageTruncate(id: string, size: number): Promise<void>;
  /** Removes a staged upload; a no-op when absent. */
  stageDelete(id: string): Promise<void>;
  /** Every staged upload, for the janitor that removes expired ones. */
  stageList(): AsyncIterable<StagedUpload>;

  /**
   * Writes a whole blob whose digest the caller knows in advance (a monolithic push) in one pass, where
   * the store can without a staging copy (S3: a multipart upload of the final object, completed only on
   * publish). onWritten sees each piece as stageAppend's does. Nothing is visible before publish().
   */
  writeBlob(digest: string, source: AsyncIterable<Buffer>, onWritten: (chunk: Buffer) => void): Promise<PendingBlob>;
  /**
   * Optional: removes writes that writeBlob began and nobody finished (a process killed mid-push) once
   * they have been idle for `idleMs`; answers how many. Stores whose writeBlob stages need none.
   */
  sweepUnfinished?(idleMs: number): Promise<number>;
}
