import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { WrappedKeyBroken, wrappedBy } from '../keys/key-encryption';
import {
  BlobNotFound,
  StageOffsetMismatch,
  StoredSizeMismatch,
  type AppendResult,
  type BlobInfo,
  type BlobStore,
  type ByteRange,
  type PendingBlob,
  type StagedUpload,
} from './blob-store';
import type { DataKeyStore } from './data-keys';
import { writeThroughStaging } from './staged-write';
import {
  SEALED_SEGMENT,
  SEGMENT,
  SEGMENT_OVERHEAD,
  SealBroken,
  openSegment,
  openStream,
  sealSegments,
  sealedRange,
  sealedSize,
} from './sealed-segments';

/** What the store needs of the key ring: wrap new data keys, unwrap stored ones. */
export interface DataKeyWrapper {
  wrap(dataKey: Buffer): Promise<Buffer>;
  unwrap(wrapped: Buffer): Promise<Buffer>;
}

/** Every sealed object starts with this, then the 16-byte id of its data key. */
const MAGIC = Buffer.from('CRN\x01', 'latin1');
export const HEADER = MAGIC.length + 16;

interface DataKey {
  keyId: string;
  key: Buffer;
}

interface StageState {
  /** Authenticated plaintext bytes. */
  plain: number;
  /** Stored bytes they take (header included); anything beyond is a torn write to cut off. */
  stored: number;
  /** The plaintext of a short last segment, re-sealed with what comes next. */
  tail?: Buffer;
}

/** Plaintext size of a sealed object of `stored` bytes, whole segments only when the end is torn. */
function plainOf(stored: number): number {
  if (stored <= HEADER) return 0;
  const body = stored - HEADER;
  const full = Math.floor(body / SEALED_SEGMENT);
  const rest = body - full * SEALED_SEGMENT;
  return full * SEGMENT + Math.max(0, rest - SEGMENT_OVERHEAD);
}

const storedOf = (plain: number) => HEADER + sealedSize(plain);

/**
 * A small LRU whose entries also expire: Map keeps insertion order, and a hit moves the entry to the end.
 * Expiry bounds how long a data key erased elsewhere (another replica, the CLI) stays usable here.
 */
class Lru<K, V> {
  private readonly map = new Map<K, { v: V; until: number }>();
  constructor(
    private readonly max: number,
    private readonly ttlMs: number,
  ) {}
  get(k: K): V | undefined {
    const e = this.map.get(k);
    if (e === undefined) return undefined;
    this.map.delete(k);
    if (e.until <= Date.now()) return undefined;
    this.map.set(k, e);
    return e.v;
  }
  set(k: K, v: V): void {
    this.map.delete(k);
    this.map.set(k, { v, until: Date.now() + this.ttlMs });
    if (this.map.size > this.max) this.map.delete(this.map.keys().next().value as K);
  }
  delete(k: K): void {
    this.map.delete(k);
  }
}

/**
 * Envelope encryption at rest over any BlobStore (issue 16): each blob and each staged upload gets its
 * own random 256-bit data key, wrapped by the key-encryption key and kept in the DataKeyStore, never
 * beside the bytes. What the inner store holds is `CRN\x01 ‖ key id ‖ sealed segments`
 * (src/storage/sealed-segments.ts), so digests, sizes and ranges seen by callers are the plaintext's while
 * nothing readable reaches the disk or the bucket.
 *
 * - A Range read opens only the segments it touches. A segment that does not authenticate (altered,
 *   truncated, reordered, another key) ends the stream with SealBroken; `onBroken` reports it.
 * - Staged uploads stay sealed too. An append that starts inside a short last segment re-seals that
 *   segment with the new bytes (the stage is cut back to the segment's start first); a torn write after
 *   a crash is found by authentication and cut off, so the upload resumes at the last whole segment.
 * - Blobs stored before encryption was turned on (no data key owned by their digest) are read as they
 *   are, until `cairn admin encrypt` seals them in place.
 * - No presigned URLs and no sendTo: the bytes must pass through here to be opened.
 */
export class EncryptingBlobStore implements BlobStore {
  readonly kind: string;
  readonly encrypted = true;
  /** As the inner store's: present only where writeBlob leaves unfinished writes outside staging. */
  readonly sweepUnfinished?: (idleMs: number) => Promise<number>;
  /** As the inner store's (storage routes): the sealed bytes are copied as they are, under the same data key. */
  readonly adopt?: (digest: string) => Promise<void>;
  private readonly keysById: Lru<string, Buffer>;
  private readonly sealedBlobs: Lru<string, DataKey>;
  private readonly stageKeys: Lru<string, DataKey>;

  constructor(
    private readonly inner: BlobStore,
    private readonly keys: DataKeyStore,
    private readonly wrapper: DataKeyWrapper,
    private readonly onBroken: (digest: string, err: SealBroken) => void = () => undefined,
    /** How long an unwrapped data key is kept in memory: the most a key erased elsewhere stays usable here. */
    keyCacheMs = 60_000,
  ) {
    this.kind = inner.kind;
    this.keysById = new Lru(4096, keyCacheMs);
    this.sealedBlobs = new Lru(16_384, keyCacheMs);
    this.stageKeys = new Lru(4096, keyCacheMs);
    if (inner.sweepUnfinished) this.sweepUnfinished = (idleMs) => this.sweep(idleMs);
    const adopt = inner.adopt?.bind(inner);
    if (adopt) this.adopt = (digest) => adopt(digest);
  }

  init(): Promise<void> {
    return this.inner.init();
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  // ---- keys ----

  /** A fresh data key, stored wrapped under `owner` (`write:` alone: the key's own id is appended). */
  private async newKey(owner: string): Promise<DataKey> {
    const key = randomBytes(32);
    const keyId = randomBytes(16).toString('hex');
    if (owner === 'write:') owner = `write:${keyId}`;
    const wrapped = await this.wrapper.wrap(key);
    await this.keys.insertDataKey({ keyId, owner, kekId: wrappedBy(wrapped)!, wrapped, createdAt: Date.now() });
    this.keysById.set(keyId, key);
    return { keyId, key };
  }

  private async unwrapped(keyId: string, wrapped: Buffer): Promise<Buffer> {
    const cached = this.keysById.get(keyId);
    if (cached) return cached;
    const key = await this.wrapper.unwrap(wrapped);
    this.keysById.set(keyId, key);
    return key;
  }

  private headerFor(keyId: string): Buffer {
    return Buffer.concat([MAGIC, Buffer.from(keyId, 'hex')]);
  }

  private static keyIdIn(header: Buffer): string | undefined {
    if (header.length < HEADER || !header.subarray(0, MAGIC.length).equals(MAGIC)) return undefined;
    return header.subarray(MAGIC.length, HEADER).toString('hex');
  }

  /**
   * The data key a stored blob is sealed with, or undefined when it is stored in plaintext (from before
   * encryption). The object's header names its key; the key must exist and belong to this digest (or to
   * the upload or write that produced it, when the commit's bookkeeping has not caught up). A header of
   * ours whose key is gone (erased, lost) or belongs to another blob is damage: the bytes are plaintext
   * only if they hash to the digest, never on trust. The same proof is asked of a blob without a header
   * whose digest owns keys (mid-way through `cairn admin encrypt`, or a header destroyed).
   */
  private async blobKey(digest: string, stored: number, fresh = false): Promise<DataKey | undefined> {
    if (!fresh) {
      const cached = this.sealedBlobs.get(digest);
      if (cached) return cached;
    }
    const header =
      stored >= HEADER ? await readAll(await this.inner.read(digest, { start: 0, end: HEADER - 1 })) : Buffer.alloc(0);
    const keyId = EncryptingBlobStore.keyIdIn(header);
    if (!keyId) {
      if ((await this.keys.dataKeysOf(`blob:${digest}`)).length === 0) return undefined;
      if (await this.plaintextMatches(digest)) return undefined;
      throw this.broken(digest, 'its header is not that of a sealed blob, yet it has data keys');
    }
    const record = await this.keys.dataKey(keyId);
    const belongs = record && (record.owner === `blob:${digest}` || /^(stage|write):/.test(record.owner));
    if (!record || !belongs) {
      if (await this.plaintextMatches(digest)) return undefined;
      throw this.broken(
        digest,
        record ? `its data key ${keyId} seals another blob` : `its data key ${keyId} is missing`,
      );
    }
    let key: DataKey;
    try {
      key = { keyId: record.keyId, key: await this.unwrapped(record.keyId, record.wrapped) };
    } catch (err) {
      // A data key that does not unwrap is damage to this blob, reported like a broken segment.
      if (err instanceof WrappedKeyBroken) throw this.broken(digest, err.message);
      throw err;
    }
    this.sealedBlobs.set(digest, key);
    return key;
  }

  private broken(digest: string, why: string): SealBroken {
    const err = new SealBroken(-1);
    err.message = `${digest}: ${why}`;
    this.onBroken(digest, err);
    return err;
  }

  private async plaintextMatches(digest: string): Promise<boolean> {
    const [algorithm, hex] = digest.split(':') as [string, string];
    const hash = createHash(algorithm);
    for await (const chunk of await this.inner.read(digest)) hash.update(chunk as Buffer);
    return hash.digest('hex') === hex;
  }

  private async stageKey(id: string): Promise<DataKey> {
    const cached = this.stageKeys.get(id);
    if (cached) return cached;
    const [record] = await this.keys.dataKeysOf(`stage:${id}`);
    if (!record) throw new BlobNotFound(id);
    const key = { keyId: record.keyId, key: await this.unwrapped(record.keyId, record.wrapped) };
    this.stageKeys.set(id, key);
    return key;
  }

  /**
   * Bookkeeping after a commit, not awaited: a commit runs inside the catalog's transaction, which on
   * SQLite holds the one writer connection, so this write runs once that transaction ends. Readers do not
   * depend on it (the object's header names its key, and a key still owned by its upload opens it);
   * erasure and listings do, and a crash before it runs leaves the key under its upload's name.
   */
  private later(work: () => Promise<unknown>): void {
    void work().catch(() => undefined);
  }

  // ---- blobs ----

  async stat(digest: string): Promise<BlobInfo | undefined> {
    const info = await this.inner.stat(digest);
    if (!info) return undefined;
    const key = await this.blobKey(digest, info.size);
    return key ? { digest, size: plainOf(info.size) } : info;
  }

  async read(digest: string, range?: ByteRange): Promise<Readable> {
    const info = await this.inner.stat(digest);
    if (!info) throw new BlobNotFound(digest);
    const key = await this.blobKey(digest, info.size);
    if (!key) return this.inner.read(digest, range);
    const plain = plainOf(info.size);
    if (plain === 0 || (range && range.end < range.start)) return Readable.from([]);
    const span = range ?? { start: 0, end: plain - 1 };
    // The first segment is opened before the stream is handed out, so that a blob broken from its start
    // fails here, where the caller can still answer with an error status instead of a cut response.
    const segments = this.opened(digest, key, span, plain);
    const first = await segments.next();
    return Readable.from(
      (async function* () {
        if (!first.done) yield first.value;
        yield* segments;
      })(),
      { objectMode: false },
    );
  }

  /**
   * Opens the sealed segments of `span`. A cached key that no longer fits (the blob was erased and pushed
   * again elsewhere) fails on the first segment, before anything is yielded: then the key is looked up
   * afresh once. Any later failure is damage, reported and not retried.
   */
  private async *opened(digest: string, key: DataKey, span: ByteRange, plain: number): AsyncGenerator<Buffer> {
    const at = sealedRange(span, plain);
    const length = span.end - span.start + 1;
    let current = key;
    for (let attempt = 0; ; attempt++) {
      let yielded = false;
      try {
        const source = await this.inner.read(digest, { start: HEADER + at.start, end: HEADER + at.end });
        for await (const chunk of openStream(current.key, source as AsyncIterable<Buffer>, at.first, at.skip, length)) {
          yielded = true;
          yield chunk;
        }
        return;
      } catch (err) {
        if (!(err instanceof SealBroken)) throw err;
        this.sealedBlobs.delete(digest);
        if (!yielded && attempt === 0) {
          const info = await this.inner.stat(digest);
          const again = info && (await this.blobKey(digest, info.size, true));
          if (again && again.keyId !== current.keyId) {
            current = again;
            continue;
          }
        }
        err.message = `${digest}: ${err.message}`;
        this.onBroken(digest, err);
        throw err;
      }
    }
  }

  async delete(digest: string): Promise<boolean> {
    const info = await this.inner.stat(digest);
    const key = info ? await this.blobKey(digest, info.size).catch(() => undefined) : undefined;
    const removed = await this.inner.delete(digest);
    this.sealedBlobs.delete(digest);
    // Only the key this copy was sealed with: a concurrent push of the same digest has its own. Not
    // awaited: the collector deletes inside the catalog's transaction (see later()).
    if (key) this.later(() => this.keys.deleteDataKey(key.keyId));
    return removed;
  }

  async *list(): AsyncIterable<{ digest: string; size: number; modifiedAt: Date }> {
    for await (const b of this.inner.list()) {
      const sealed = this.sealedBlobs.get(b.digest) ?? (await this.keys.dataKeysOf(`blob:${b.digest}`))[0];
      yield sealed ? { ...b, size: plainOf(b.size) } : b;
    }
  }

  // ---- staged uploads ----

  async stageCreate(id: string): Promise<void> {
    this.stageKeys.set(id, await this.newKey(`stage:${id}`));
    try {
      await this.inner.stageCreate(id);
    } catch (err) {
      await this.keys.deleteDataKeysOf(`stage:${id}`).catch(() => undefined);
      throw err;
    }
  }

  /** What a staged upload holds, authenticated: its last segment is opened to tell short from torn. */
  private async stageState(id: string, stored: number, key: DataKey): Promise<StageState> {
    if (stored < HEADER) return { plain: 0, stored: 0 };
    const body = stored - HEADER;
    const full = Math.floor(body / SEALED_SEGMENT);
    const rest = body - full * SEALED_SEGMENT;
    const aligned = HEADER + full * SEALED_SEGMENT;
    if (rest === 0) return { plain: full * SEGMENT, stored };
    if (rest > SEGMENT_OVERHEAD) {
      const sealed = await readAll(await this.inner.stageRead(id, stored, aligned));
      try {
        const tail = openSegment(key.key, full, sealed);
        return { plain: full * SEGMENT + tail.length, stored, tail };
      } catch (err) {
        if (!(err instanceof SealBroken)) throw err;
      }
    }
    return { plain: full * SEGMENT, stored: aligned };
  }

  async stageSize(id: string): Promise<number | undefined> {
    const stored = await this.inner.stageSize(id);
    if (stored === undefined) return undefined;
    return (await this.stageState(id, stored, await this.stageKey(id))).plain;
  }

  async stageAppend(
    id: string,
    offset: number,
    source: AsyncIterable<Buffer>,
    onWritten: (chunk: Buffer) => void,
  ): Promise<AppendResult> {
    const stored = await this.inner.stageSize(id);
    if (stored === undefined) throw new BlobNotFound(id);
    const key = await this.stageKey(id);
    const state = await this.stageState(id, stored, key);
    if (state.plain !== offset) throw new StageOffsetMismatch(state.plain, offset);
    // Where the new segments start: after the last whole one (a short one is sealed again with more).
    const from = state.plain - (state.tail?.length ?? 0);
    const storedFrom = from === 0 ? 0 : HEADER + (from / SEGMENT) * SEALED_SEGMENT;
    if (storedFrom !== stored) await this.inner.stageTruncate(id, storedFrom);
    return this.writeSealed(
      key,
      from / SEGMENT,
      storedFrom === 0,
      state.tail,
      source,
      onWritten,
      (sealed, onSealed) => this.inner.stageAppend(id, storedFrom, sealed, onSealed),
      storedFrom,
      offset,
    );
  }

  /**
   * Seals `source` (after `prefix`, the plaintext of a short segment being re-sealed) as segments from
   * `firstIndex` on, and hands it to `write`. onWritten sees each plaintext piece once the inner store
   * reports all of its sealed segment written, so the caller's hash covers exactly what is kept.
   */
  private async writeSealed(
    key: DataKey,
    firstIndex: number,
    withHeader: boolean,
    prefix: Buffer | undefined,
    source: AsyncIterable<Buffer>,
    onWritten: (chunk: Buffer) => void,
    write: (sealed: AsyncIterable<Buffer>, onSealed: (chunk: Buffer) => void) => Promise<AppendResult>,
    storedFrom: number,
    offset: number,
  ): Promise<AppendResult> {
    // Sealed bytes in flight, in order: how many stored bytes each is, and the new plaintext it carries.
    const queue: { end: number; plain: Buffer }[] = [];
    let produced = storedFrom;
    let written = storedFrom;
    let reported = offset;
    const header = withHeader ? this.headerFor(key.keyId) : undefined;
    async function* sealed(): AsyncGenerator<Buffer> {
      if (header) {
        produced += header.length;
        queue.push({ end: produced, plain: Buffer.alloc(0) });
        yield header;
      }
      // A failing source still yields what arrived (sealed short): the upload resumes after it.
      for await (const piece of sealSegments(key.key, source, firstIndex, prefix)) {
        produced += piece.sealed.length;
        queue.push({ end: produced, plain: piece.plain });
        yield piece.sealed;
      }
    }
    const result = await write(sealed(), (chunk) => {
      written += chunk.length;
      while (queue.length > 0 && queue[0]!.end <= written) {
        const done = queue.shift()!;
        if (done.plain.length > 0) {
          onWritten(done.plain);
          reported += done.plain.length;
        }
      }
    });
    // The inner store's size, in plaintext: a torn last segment does not count (it is cut off later).
    const size = result.size === 0 ? 0 : plainOf(result.size);
    return {
      size: Math.max(offset - (prefix?.length ?? 0), Math.min(size, reported)),
      ...(result.error ? { error: result.error } : {}),
      ...(result.failed ? { failed: result.failed } : {}),
    };
  }

  async stageRead(id: string, end?: number, start = 0): Promise<Readable> {
    const stored = await this.inner.stageSize(id);
    if (stored === undefined) throw new BlobNotFound(id);
    const key = await this.stageKey(id);
    const { plain } = await this.stageState(id, stored, key);
    const stop = Math.min(end ?? plain, plain);
    if (stop <= start) return Readable.from([]);
    const at = sealedRange({ start, end: stop - 1 }, plain);
    const source = await this.inner.stageRead(id, HEADER + at.end + 1, HEADER + at.start);
    return Readable.from(openStream(key.key, source as AsyncIterable<Buffer>, at.first, at.skip, stop - start));
  }

  async stageTruncate(id: string, size: number): Promise<void> {
    const stored = await this.inner.stageSize(id);
    if (stored === undefined) throw new BlobNotFound(id);
    const key = await this.stageKey(id);
    const state = await this.stageState(id, stored, key);
    if (size > state.plain) throw new StageOffsetMismatch(state.plain, size);
    const keep = size - (size % SEGMENT);
    const cut = keep === 0 ? 0 : HEADER + (keep / SEGMENT) * SEALED_SEGMENT;
    const partial = size % SEGMENT === 0 ? undefined : await readAll(await this.stageRead(id, size, keep));
    await this.inner.stageTruncate(id, cut);
    if (partial || (cut === 0 && size === 0 && stored > 0)) {
      const chunks = partial ? [partial] : [];
      await this.writeSealed(
        key,
        keep / SEGMENT,
        cut === 0,
        undefined,
        Readable.from(chunks),
        () => undefined,
        (sealed, onSealed) => this.inner.stageAppend(id, cut, sealed, onSealed),
        cut,
        keep,
      );
    }
  }

  async stageCommit(id: string, digest: string, size: number): Promise<BlobInfo> {
    let stored = await this.inner.stageSize(id);
    if (stored === undefined) throw new BlobNotFound(id);
    const key = await this.stageKey(id);
    const state = await this.stageState(id, stored, key);
    if (state.plain !== size) throw new StoredSizeMismatch(`staged upload ${id}`, size, state.plain);
    if (state.stored !== stored) {
      await this.inner.stageTruncate(id, state.stored);
      stored = state.stored;
    }
    if (stored === 0) {
      // An empty blob is its header alone.
      await this.inner.stageAppend(id, 0, Readable.from([this.headerFor(key.keyId)]), () => undefined);
      stored = HEADER;
    }
    this.stageKeys.delete(id);
    if (await this.sameCopyStored(digest, stored)) {
      await this.inner.stageDelete(id);
      this.later(() => this.keys.deleteDataKey(key.keyId));
      return { digest, size };
    }
    await this.inner.stageCommit(id, digest, stored);
    this.sealedBlobs.set(digest, key);
    this.later(() => this.keys.setDataKeyOwner(key.keyId, `blob:${digest}`));
    return { digest, size };
  }

  /**
   * A sealed copy of the same size is already stored: deduplication keeps it (and its key). Decided on
   * the inner store alone (size and header), as this runs inside the catalog's commit transaction.
   */
  private async sameCopyStored(digest: string, stored: number): Promise<boolean> {
    const existing = await this.inner.stat(digest);
    if (existing?.size !== stored) return false;
    const header = await readAll(await this.inner.read(digest, { start: 0, end: HEADER - 1 }));
    return EncryptingBlobStore.keyIdIn(header) !== undefined;
  }

  /**
   * Removes a staged upload and its key. The key goes only with a stage that was there: once committed,
   * the key seals the blob, and a late cancel of the same upload id must not take it.
   */
  async stageDelete(id: string): Promise<void> {
    const existed = (await this.inner.stageSize(id)) !== undefined;
    await this.inner.stageDelete(id);
    this.stageKeys.delete(id);
    if (existed) await this.keys.deleteDataKeysOf(`stage:${id}`);
  }

  async *stageList(): AsyncIterable<StagedUpload> {
    for await (const u of this.inner.stageList()) yield { ...u, size: plainOf(u.size) };
  }

  async writeBlob(
    digest: string,
    source: AsyncIterable<Buffer>,
    onWritten: (chunk: Buffer) => void,
  ): Promise<PendingBlob> {
    // A store whose whole-blob writes are staged (the file system) stages them here too, sealed, so the
    // janitor that removes abandoned uploads removes their keys with them.
    if (!this.inner.sweepUnfinished) return writeThroughStaging(this, digest, source, onWritten);
    const key = await this.newKey('write:');
    let pending: PendingBlob | undefined;
    let result: AppendResult;
    try {
      result = await this.writeSealed(
        key,
        0,
        true,
        undefined,
        source,
        onWritten,
        async (sealed, onSealed) => {
          pending = await this.inner.writeBlob(digest, sealed, onSealed);
          return pending.result;
        },
        0,
        0,
      );
    } catch (err) {
      await this.keys.deleteDataKey(key.keyId).catch(() => undefined);
      throw err;
    }
    const inner = pending!;
    const stored = storedOf(result.size);
    return {
      result,
      publish: async () => {
        if (result.error) throw new Error(`the write of ${digest} was cut short; it cannot be published`);
        if (await this.sameCopyStored(digest, stored)) {
          await inner.discard();
          this.later(() => this.keys.deleteDataKey(key.keyId));
          return { digest, size: result.size };
        }
        await inner.publish();
        this.sealedBlobs.set(digest, key);
        this.later(() => this.keys.setDataKeyOwner(key.keyId, `blob:${digest}`));
        return { digest, size: result.size };
      },
      discard: async () => {
        await inner.discard();
        await this.keys.deleteDataKey(key.keyId);
      },
    };
  }

  /**
   * Removes writes nobody finished: the inner store's, and the data keys of whole-blob writes that never
   * published (a process killed mid-push) once idle as long.
   */
  private async sweep(idleMs: number): Promise<number> {
    let removed = (await this.inner.sweepUnfinished?.(idleMs)) ?? 0;
    for (const k of await this.keys.staleDataKeys('write:', Date.now() - idleMs, 1000)) {
      await this.keys.deleteDataKey(k.keyId);
      removed++;
    }
    return removed;
  }

  /**
   * Seals a blob stored in plaintext (from before encryption) in place: read, sealed under a new key,
   * written whole and published over the plaintext copy once its digest is proved. Answers false when
   * the blob is already sealed or absent.
   */
  async sealInPlace(digest: string): Promise<boolean> {
    const info = await this.inner.stat(digest);
    if (!info || (await this.blobKey(digest, info.size))) return false;
    const [algorithm, hex] = digest.split(':') as [string, string];
    const hash = createHash(algorithm);
    let hashed = 0;
    const pending = await this.writeBlob(digest, (await this.inner.read(digest)) as AsyncIterable<Buffer>, (c) => {
      hash.update(c);
      hashed += c.length;
    });
    if (pending.result.error || hashed !== info.size || hash.digest('hex') !== hex) {
      await pending.discard();
      throw new StoredSizeMismatch(digest, info.size, hashed, 'the plaintext copy does not match its digest');
    }
    // Another size than the plaintext's: the inner store replaces the plaintext copy.
    await pending.publish();
    return true;
  }

  /**
   * Crypto-shredding: removes the blob's bytes, then destroys every data key it owns. Copies elsewhere
   * (backups, bucket versions) hold only sealed segments whose key no longer exists anywhere. Bytes first:
   * a sealed object must never be left without its keys where a reader could take it for plaintext.
   * Idempotent, so a run cut short is finished by running it again.
   */
  async erase(digest: string): Promise<{ keys: number; removed: boolean }> {
    this.sealedBlobs.delete(digest);
    // The key the stored copy names, even if its commit's bookkeeping never ran (still under its upload).
    const info = await this.inner.stat(digest);
    const header =
      info && info.size >= HEADER
        ? await readAll(await this.inner.read(digest, { start: 0, end: HEADER - 1 }))
        : Buffer.alloc(0);
    const named = EncryptingBlobStore.keyIdIn(header);
    const removed = await this.inner.delete(digest);
    let keys = await this.keys.deleteDataKeysOf(`blob:${digest}`);
    if (named && (await this.keys.dataKey(named))) {
      await this.keys.deleteDataKey(named);
      keys++;
    }
    return { keys, removed };
  }
}

async function readAll(r: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(c as Buffer);
  return Buffer.concat(parts);
}
