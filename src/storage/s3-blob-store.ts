import { PassThrough, Readable } from 'node:stream';
import * as Minio from 'minio';
import { DIGEST_ALGORITHMS, tryParseDigest, type ParsedDigest } from '../oci/digest';
import { STAGE_ID, assertStageId, storedDigest } from './keys';
import {
  BlobNotFound,
  StageOffsetMismatch,
  type AppendResult,
  type BlobInfo,
  type BlobStore,
  type ByteRange,
  type StagedUpload,
} from './blob-store';

export interface S3Options {
  endpoint: string;
  bucket: string;
  region?: string;
  accessKey: string;
  secretKey: string;
  /** Key prefix inside the bucket, so that one bucket can hold several registries. */
  prefix?: string;
  pathStyle?: boolean;
}

/** S3's smallest multipart part: compose needs every source but the last to be at least this big. */
const MIN_PART = 5 * 1024 * 1024;
/** Parts are buffered in memory by the client while they upload: keep them small. */
const PART_SIZE = 8 * 1024 * 1024;
const MARKER = 'open';
/** S3 allows 10 000 parts per multipart upload; the client splits each compose source into parts of at most 5 TiB / 9 999. */
const MAX_PARTS = 10_000;
const MAX_COPY_PART = (5 * 1024 ** 4) / (MAX_PARTS - 1);

/** Whether the segments can become the blob by a server-side compose (else they are streamed through once). */
export function composable(sizes: number[]): boolean {
  if (sizes.slice(0, -1).some((n) => n < MIN_PART)) return false;
  return sizes.reduce((parts, n) => parts + Math.max(1, Math.ceil(n / MAX_COPY_PART)), 0) <= MAX_PARTS;
}

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

  constructor(o: S3Options) {
    const u = new URL(o.endpoint);
    this.client = new Minio.Client({
      endPoint: u.hostname,
      port: u.port ? Number(u.port) : undefined,
      useSSL: u.protocol === 'https:',
      accessKey: o.accessKey,
      secretKey: o.secretKey,
      region: o.region ?? 'us-east-1',
      pathStyle: o.pathStyle ?? true,
      partSize: PART_SIZE,
    });
    this.bucket = o.bucket;
    this.prefix = o.prefix ?? '';
    this.region = o.region ?? 'us-east-1';
  }

  /** `s3://bucket?endpoint=http://host:port&region=…&prefix=…&pathStyle=true`; keys from AWS_* variables. */
  static fromUrl(url: string, env: NodeJS.ProcessEnv = process.env): S3BlobStore {
    const u = new URL(url);
    const endpoint = u.searchParams.get('endpoint');
    if (!u.hostname || !endpoint) throw new Error('S3 storage needs s3://<bucket>?endpoint=<url>');
    const accessKey = env.AWS_ACCESS_KEY_ID;
    const secretKey = env.AWS_SECRET_ACCESS_KEY;
    if (!accessKey || !secretKey) throw new Error('S3 storage needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY');
    return new S3BlobStore({
      endpoint,
      bucket: u.hostname,
      region: u.searchParams.get('region') ?? undefined,
      prefix: u.searchParams.get('prefix') ?? undefined,
      pathStyle: u.searchParams.get('pathStyle') !== 'false',
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
  private async segments(id: string): Promise<{ key: string; offset: number; size: number; modified: Date }[] | undefined> {
    const dir = this.stageDir(id);
    const items = await this.listKeys(dir);
    if (!items.some((i) => i.name === dir + MARKER)) return undefined;
    return items
      .filter((i) => /^\d{16}$/.test(i.name!.slice(dir.length)))
      .map((i) => ({ key: i.name!, offset: Number(i.name!.slice(dir.length)), size: i.size, modified: i.lastModified! }))
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
   * Streams the chunk up as one segment object. When the client goes away midway, what did arrive is
   * stored as the segment, as the file system keeps it. If S3 itself fails, the segment is not stored
   * and the upload stays at `offset`; onWritten has then seen bytes that were not kept, which the caller
   * detects by comparing counts (and re-hashes from the staged bytes).
   */
  async stageAppend(id: string, offset: number, source: AsyncIterable<Buffer>, onWritten: (chunk: Buffer) => void): Promise<AppendResult> {
    const size = await this.stageSize(id);
    if (size === undefined) throw new BlobNotFound(id);
    if (size !== offset) throw new StageOffsetMismatch(size, offset);
    const body = new PassThrough({ highWaterMark: 1 << 20 });
    let sent = 0;
    let sourceError: Error | undefined;
    const pump = (async () => {
      try {
        for await (const chunk of source) {
          onWritten(chunk);
          sent += chunk.length;
          if (!body.write(chunk)) await new Promise((r) => body.once('drain', r));
        }
        body.end();
      } catch (err) {
        // The client went away: store what did arrive as the segment, so the upload can resume after it.
        sourceError = err as Error;
        body.end();
      }
    })();
    const key = `${this.stageDir(id)}${String(offset).padStart(16, '0')}`;
    try {
      await this.client.putObject(this.bucket, key, body);
    } catch (err) {
      await pump;
      await this.client.removeObject(this.bucket, key).catch(() => undefined);
      return { size: offset, error: sourceError ?? (err as Error) };
    }
    await pump;
    if (sent === 0) await this.client.removeObject(this.bucket, key).catch(() => undefined);
    return sourceError ? { size: offset + sent, error: sourceError } : { size: offset + sent };
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

  async stageCommit(id: string, digest: string): Promise<BlobInfo> {
    const segs = await this.segments(id);
    if (!segs) throw new BlobNotFound(id);
    const size = segs.reduce((n, s) => n + s.size, 0);
    const key = this.blobKey(storedDigest(digest));
    const existing = await this.stat(digest);
    if (!existing) {
      if (segs.length === 0) {
        await this.client.putObject(this.bucket, key, Buffer.alloc(0), 0);
      } else if (composable(segs.map((s) => s.size))) {
        // One segment is a plain server-side copy up to 5 GiB; beyond that, and for several segments,
        // an UploadPartCopy per source range. Either way no byte passes through the registry again.
        await this.client.composeObject(
          new Minio.CopyDestinationOptions({ Bucket: this.bucket, Object: key }),
          segs.map((s) => new Minio.CopySourceOptions({ Bucket: this.bucket, Object: s.key })),
        );
      } else {
        // Chunks under S3's 5 MiB part minimum, or more than 10 000 parts: stream them through once.
        await this.client.putObject(this.bucket, key, await this.stageRead(id), size);
      }
    }
    await this.stageDelete(id);
    return { digest, size: existing?.size ?? size };
  }

  async stageDelete(id: string): Promise<void> {
    const keys = (await this.listKeys(this.stageDir(id))).map((i) => i.name!);
    if (keys.length) await this.client.removeObjects(this.bucket, keys);
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
}
