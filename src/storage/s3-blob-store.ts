import { Agent as HttpsAgent } from 'node:https';
import { Readable } from 'node:stream';
import * as Minio from 'minio';
import { caBundleOf } from '../config/ca-bundle';
import { DIGEST_ALGORITHMS, tryParseDigest, type ParsedDigest } from '../oci/digest';
import { STAGE_ID, assertStageId, storedDigest } from './keys';
import { ByteBudget } from './byte-budget';
import { S3Multipart, S3WriteFailed, composable } from './s3-multipart';
import {
  BlobNotFound,
  StageOffsetMismatch,
  type AppendResult,
  type BlobInfo,
  type BlobStore,
  type ByteRange,
  type PendingBlob,
  type StagedUpload,
  StoredSizeMismatch,
} from './blob-store';

export interface S3Options {
  endpoint: string;
  bucket: string;
  region?: string;
  accessKey: string;
  secretKey: string;
  /** Key prefix inside the bucket, so that one bucket can hold several registries. */
  prefix?: string;
  /** PEM CA certificates trusted for an https endpoint instead of the system's (a private CA). */
  ca?: string;
  pathStyle?: boolean;
}

const MARKER = 'open';
/**
 * What the part buffers of all uploads in this process may hold at once (docs/operations.md): 16 parts
 * of 8 MiB. More concurrent pushes wait for a buffer, reading their clients more slowly meanwhile.
 */
const PART_MEMORY = 128 * 1024 * 1024;

function isNotFound(err: unknown): boolean {
  const code = (err as { code?: string }).code;
  return code === 'NotFound' || code === 'NoSuchKey' || code === 'NoSuchUpload';
}

/**
 * Blobs in an S3-compatible bucket (MinIO, AWS S3, Ceph RGW) through the `minio` client.
 * `<prefix><algorithm>/<2 hex>/<hex>` per blob. A staged upload is a marker object plus one segment
 * object per appended chunk, `<prefix>_staging/<id>/<offset>`, each streamed up as it arrives; finishing
 * composes the segments server-side (UploadPartCopy) into the blob, without the bytes passing through
 * the registry again, whenever S3's 5 MiB part minimum allows it (docs/performance.md).
 */
export class S3BlobStore implements BlobStore {
  readonly kind = 's3';
  private readonly client: Minio.Client;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly region: string;
  private readonly multipart: S3Multipart;

  constructor(o: S3Options) {
    const u = new URL(o.endpoint);
    this.client = new Minio.Client({
      endPoint: u.hostname,
      port: u.port ? Number(u.port) : undefined,
      useSSL: u.protocol === 'https:',
      ...(o.ca ? { transportAgent: new HttpsAgent({ ca: o.ca, keepAlive: true }) } : {}),
      accessKey: o.accessKey,
      secretKey: o.secretKey,
      region: o.region ?? 'us-east-1',
      pathStyle: o.pathStyle ?? true,
    });
    this.multipart = new S3Multipart(this.client, o.bucket, new ByteBudget(PART_MEMORY));
    this.bucket = o.bucket;
    this.prefix = o.prefix ?? '';
    this.region = o.region ?? 'us-east-1';
  }

  /**
   * `s3://bucket?endpoint=http://host:port&region=…&prefix=…&pathStyle=true[&ca=/path/ca.pem]`; keys from
   * AWS_* variables.
   */
  static fromUrl(url: string, env: NodeJS.ProcessEnv = process.env): S3BlobStore {
    const u = new URL(url);
    const endpoint = u.searchParams.get('endpoint');
    if (!u.hostname || !endpoint) throw new Error('S3 storage needs s3://<bucket>?endpoint=<url>');
    const ca = caBundleOf(u, endpoint.startsWith('https:'), 'storage (S3)');
    const accessKey = env.AWS_ACCESS_KEY_ID;
    const secretKey = env.AWS_SECRET_ACCESS_KEY;
    if (!accessKey || !secretKey) throw new Error('S3 storage needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY');
    return new S3BlobStore({
      endpoint,
      bucket: u.hostname,
      region: u.searchParams.get('region') ?? undefined,
      prefix: u.searchParams.get('prefix') ?? undefined,
      pathStyle: u.searchParams.get('pathStyle') !== 'false',
      ...(ca ? { ca } : {}),
      accessKey,
      secretKey,
    });
  }

  private blobKey(d: ParsedDigest): string {
    return `${this.prefix}${d.algorithm}/${d.hex.slice(0, 2)}/${d.hex}`;
  }

  private stageDir(id: string): string {
    assertStageId(id);
    return `${this.prefix}_staging/${id}/`;
  }

  private async listKeys(prefix: string): Promise<Minio.BucketItem[]> {
    const items: Minio.BucketItem[] = [];
    for await (const item of this.client.listObjectsV2(this.bucket, prefix, true)) {
      if ((item as Minio.BucketItem).name) items.push(item as Minio.BucketItem);
    }
    return items;
  }

  /** The staged segments of an upload in order, or undefined when it does not exist. */
  private async segments(
    id: string,
  ): Promise<{ key: string; offset: number; size: number; modified: Date }[] | undefined> {
    const dir = this.stageDir(id);
    const items = await this.listKeys(dir);
    if (!items.some((i) => i.name === dir + MARKER)) return undefined;
    return items
      .filter((i) => /^\d{16}$/.test(i.name!.slice(dir.length)))
      .map((i) => ({
        key: i.name!,
        offset: Number(i.name!.slice(dir.length)),
        size: i.size,
        modified: i.lastModified!,
      }))
      .sort((a, b) => a.offset - b.offset);
  }

  async init(): Promise<void> {
    if (!(await this.client.bucketExists(this.bucket))) {
      try {
        await this.client.makeBucket(this.bucket, this.region);
      } catch (err) {
        // Another replica made it first.
        if (!(await this.client.bucketExists(this.bucket))) throw err;
      }
    }
  }

  async close(): Promise<void> {}

  async stat(digest: string): Promise<BlobInfo | undefined> {
    try {
      const st = await this.client.statObject(this.bucket, this.blobKey(storedDigest(digest)));
      return { digest, size: st.size };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async read(digest: string, range?: ByteRange): Promise<Readable> {
    const key = this.blobKey(storedDigest(digest));
    try {
      return range
        ? await this.client.getPartialObject(this.bucket, key, range.start, range.end - range.start + 1)
        : await this.client.getObject(this.bucket, key);
    } catch (err) {
      if (isNotFound(err)) throw new BlobNotFound(digest);
      throw err;
    }
  }

  async presignGet(digest: string, ttlSeconds: number): Promise<string> {
    return this.client.presignedGetObject(this.bucket, this.blobKey(storedDigest(digest)), ttlSeconds);
  }

  async delete(digest: string): Promise<boolean> {
    if (!(await this.stat(digest))) return false;
    await this.client.removeObject(this.bucket, this.blobKey(storedDigest(digest)));
    return true;
  }

  async *list(): AsyncIterable<{ digest: string; size: number; modifiedAt: Date }> {
    for (const algorithm of Object.keys(DIGEST_ALGORITHMS)) {
      for await (const item of this.client.listObjectsV2(this.bucket, `${this.prefix}${algorithm}/`, true)) {
        const name = (item as Minio.BucketItem).name;
        if (!name) continue;
        const digest = `${algorithm}:${name.split('/').pop()}`;
        if (tryParseDigest(digest)) yield { digest, size: item.size, modifiedAt: item.lastModified! };
      }
    }
  }

  async stageCreate(id: string): Promise<void> {
    await this.client.putObject(this.bucket, this.stageDir(id) + MARKER, Buffer.alloc(0), 0);
  }

  async stageSize(id: string): Promise<number | undefined> {
    const segs = await this.segments(id);
    return segs?.reduce((n, s) => n + s.size, 0);
  }

  /**
   * Streams the chunk up as one segment object (a multipart upload of parts held in memory one at a
   * time, its stored size checked). When the client goes away midway, what did arrive is stored as the
   * segment, as the file system keeps it. If S3 itself fails, the segment is not stored and the upload
   * stays at `offset`; onWritten has then seen bytes that were not kept, which the caller detects by
   * comparing counts (and re-hashes from the staged bytes).
   */
  async stageAppend(
    id: string,
    offset: number,
    source: AsyncIterable<Buffer>,
    onWritten: (chunk: Buffer) => void,
  ): Promise<AppendResult> {
    const size = await this.stageSize(id);
    if (size === undefined) throw new BlobNotFound(id);
    if (size !== offset) throw new StageOffsetMismatch(size, offset);
    const key = `${this.stageDir(id)}${String(offset).padStart(16, '0')}`;
    // Stopping early must not destroy a request body: the client is still owed an answer.
    const body = source instanceof Readable ? source.iterator({ destroyOnReturn: false }) : source;
    try {
      const r = await this.multipart.putStream(key, body, onWritten);
      return r.sourceError
        ? { size: offset + r.size, error: r.sourceError, failed: 'source' }
        : { size: offset + r.size };
    } catch (err) {
      if (err instanceof S3WriteFailed || err instanceof StoredSizeMismatch)
        return { size: offset, error: err, failed: 'store' };
      throw err;
    }
  }

  async stageRead(id: string, end?: number, start = 0): Promise<Readable> {
    const segs = await this.segments(id);
    if (!segs) throw new BlobNotFound(id);
    const client = this.client;
    const bucket = this.bucket;
    const limit = end ?? Number.MAX_SAFE_INTEGER;
    return Readable.from(
      (async function* () {
        for (const s of segs) {
          if (s.offset >= limit) return;
          // Only the segments overlapping [start, limit), each from the right place.
          const from = Math.max(start - s.offset, 0);
          const length = Math.min(s.size, limit - s.offset) - from;
          if (length <= 0) continue;
          const stream = await client.getPartialObject(bucket, s.key, from, length);
          for await (const chunk of stream) yield chunk as Buffer;
        }
      })(),
    );
  }

  async stageCommit(id: string, digest: string, size: number): Promise<BlobInfo> {
    const segs = await this.segments(id);
    if (!segs) throw new BlobNotFound(id);
    const staged = segs.reduce((n, s) => n + s.size, 0);
    if (staged !== size) throw new StoredSizeMismatch(`staged upload ${id}`, size, staged);
    const key = this.blobKey(storedDigest(digest));
    const existing = await this.stat(digest);
    // A copy of another size was stored wrong (by a registry before the proof below existed): replace it.
    if (existing?.size !== size) {
      if (segs.length === 0) {
        await this.client.putObject(this.bucket, key, Buffer.alloc(0), 0);
        await this.multipart.verify(key, 0);
      } else if (composable(segs.map((s) => s.size))) {
        // Server-side: no byte passes through the registry again.
        await this.multipart.compose(key, segs);
      } else {
        // Chunks under S3's 5 MiB part minimum, or more than 10 000 parts: stream them through once.
        const r = await this.multipart.putStream(
          key,
          (await this.stageRead(id)) as AsyncIterable<Buffer>,
          () => undefined,
        );
        if (r.sourceError) throw r.sourceError;
        if (r.size !== size) throw new StoredSizeMismatch(`staged upload ${id}`, size, r.size);
      }
    }
    await this.stageDelete(id);
    return { digest, size };
  }

  /**
   * Segments wholly past `size` are removed; the one `size` falls inside is replaced by its first part,
   * copied server-side (one UploadPartCopy of a range into the same key, which completes atomically).
   */
  async stageTruncate(id: string, size: number): Promise<void> {
    const segs = await this.segments(id);
    if (!segs) throw new BlobNotFound(id);
    const current = segs.reduce((n, s) => n + s.size, 0);
    if (size > current) throw new StageOffsetMismatch(current, size);
    const beyond = segs.filter((s) => s.offset >= size).map((s) => s.key);
    const straddling = segs.find((s) => s.offset < size && s.offset + s.size > size);
    if (straddling) await this.multipart.truncate(straddling.key, size - straddling.offset);
    if (beyond.length) await this.client.removeObjects(this.bucket, beyond);
  }

  async stageDelete(id: string): Promise<void> {
    const dir = this.stageDir(id);
    const keys = (await this.listKeys(dir)).map((i) => i.name!);
    if (keys.length) await this.client.removeObjects(this.bucket, keys);
    // A segment whose writer died (a replica killed mid-chunk) is an unfinished multipart upload: its
    // parts are invisible but stored, and billed, until aborted.
    for await (const u of this.client.listIncompleteUploads(this.bucket, dir, true)) {
      if (u.key && u.uploadId)
        await this.client.abortMultipartUpload(this.bucket, u.key, u.uploadId).catch(() => undefined);
    }
  }

  async *stageList(): AsyncIterable<StagedUpload> {
    const uploads = new Map<string, StagedUpload>();
    for (const item of await this.listKeys(`${this.prefix}_staging/`)) {
      const [id, part] = item.name!.slice(`${this.prefix}_staging/`.length).split('/');
      if (!id || !STAGE_ID.test(id)) continue;
      const u = uploads.get(id) ?? { id, size: 0, modifiedAt: new Date(0) };
      if (part !== MARKER) u.size += item.size;
      if (item.lastModified! > u.modifiedAt) u.modifiedAt = item.lastModified!;
      uploads.set(id, u);
    }
    yield* uploads.values();
  }

  /**
   * A monolithic push streams straight into a multipart upload of the blob's own key, which only
   * publish() completes (after the caller checked the digest): no staging object, no server-side copy.
   */
  async writeBlob(
    digest: string,
    source: AsyncIterable<Buffer>,
    onWritten: (chunk: Buffer) => void,
  ): Promise<PendingBlob> {
    const key = this.blobKey(storedDigest(digest));
    // Stopping early must not destroy a request body: the client is still owed an answer.
    const body = source instanceof Readable ? source.iterator({ destroyOnReturn: false }) : source;
    let parts;
    try {
      parts = await this.multipart.streamParts(key, body, onWritten);
    } catch (err) {
      if (err instanceof S3WriteFailed) return { result: { size: 0, error: err, failed: 'store' }, ...nothingToDo };
      throw err;
    }
    return {
      result: parts.sourceError
        ? { size: parts.size, error: parts.sourceError, failed: 'source' }
        : { size: parts.size },
      publish: async () => {
        if (parts.sourceError) throw new Error(`the write of ${digest} was cut short; it cannot be published`);
        // Deduplication as stageCommit does it: a copy of the right size stays, the new one is dropped.
        if ((await this.stat(digest))?.size === parts.size) {
          await parts.abort();
          return { digest, size: parts.size };
        }
        await parts.complete();
        return { digest, size: parts.size };
      },
      discard: () => parts.abort(),
    };
  }

  async sweepUnfinished(idleMs: number): Promise<number> {
    const cutoff = Date.now() - idleMs;
    let removed = 0;
    for (const algorithm of Object.keys(DIGEST_ALGORITHMS)) {
      let keyMarker = '';
      let uploadIdMarker = '';
      for (;;) {
        const page = await this.client.listIncompleteUploadsQuery(
          this.bucket,
          `${this.prefix}${algorithm}/`,
          keyMarker,
          uploadIdMarker,
          '',
        );
        for (const u of page.uploads) {
          const active = await this.multipart.lastActivity(u.key, u.uploadId, u.initiated);
          if (active.getTime() >= cutoff) continue;
          await this.client.abortMultipartUpload(this.bucket, u.key, u.uploadId);
          removed++;
        }
        if (!page.isTruncated) break;
        keyMarker = page.nextKeyMarker;
        uploadIdMarker = page.nextUploadIdMarker;
      }
    }
    return removed;
  }
}

const nothingToDo = {
  publish: (): Promise<BlobInfo> => Promise.reject(new Error('nothing was written')),
  discard: async (): Promise<void> => undefined,
};
