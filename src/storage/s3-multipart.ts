import type * as Minio from 'minio';
import { ByteBudget } from './byte-budget';
import { StoredSizeMismatch } from './blob-store';
import { bodyBytesTaken } from './body-garbage';

const MiB = 1024 * 1024;
/** S3's smallest part: every part but the last must be at least this big. */
export const MIN_PART = 5 * MiB;
/** S3's largest part, and the largest object one CopyObject can copy. */
export const MAX_PART = 5 * 1024 * MiB;
export const MAX_PARTS = 10_000;

/**
 * The size of the n-th part (from 1) of a stream whose length is not known in advance: small parts
 * while the stream is small, growing so that 10 000 parts still reach 2 TiB (8 MiB × 2 000 = 15.6 GiB,
 * then 64 MiB × 4 000 = 250 GiB, then 512 MiB).
 */
export function partSizeFor(partNumber: number): number {
  if (partNumber <= 2_000) return 8 * MiB;
  if (partNumber <= 6_000) return 64 * MiB;
  return 512 * MiB;
}

/** The byte ranges (inclusive) one source of `size` bytes is copied in: at most 5 GiB each, split evenly. */
export function copyRanges(size: number): { start: number; end: number }[] {
  const count = Math.max(1, Math.ceil(size / MAX_PART));
  const base = Math.floor(size / count);
  const ranges: { start: number; end: number }[] = [];
  let start = 0;
  for (let i = 0; i < count; i++) {
    const length = base + (i < size % count ? 1 : 0);
    ranges.push({ start, end: start + length - 1 });
    start += length;
  }
  return ranges;
}

/** Whether sources of these sizes can become one object by server-side part copies. */
export function composable(sizes: number[]): boolean {
  if (sizes.slice(0, -1).some((n) => n < MIN_PART)) return false;
  return sizes.reduce((parts, n) => parts + copyRanges(n).length, 0) <= MAX_PARTS;
}

/** A multipart write streamed but not completed: complete() makes it visible (and proves it), abort() drops it. */
export interface OpenParts {
  size: number;
  sourceError?: Error;
  complete(): Promise<void>;
  abort(): Promise<void>;
}

/** An S3 request failed: the caller must not take it for its client going away. */
export class S3WriteFailed extends Error {
  constructor(
    message: string,
    override readonly cause: unknown,
  ) {
    super(message);
    this.name = 'S3WriteFailed';
  }
}

function etagOf(res: { headers: Record<string, unknown> }, body = ''): string {
  const header = res.headers.etag;
  const raw = typeof header === 'string' && header ? header : (/<ETag>([^<]*)<\/ETag>/.exec(body)?.[1] ?? '');
  return raw.replace(/^(&quot;|&#34;|")|("|&quot;|&#34;)$/g, '');
}

async function readBody(res: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  for await (const chunk of res) text += chunk.toString();
  return text;
}

/**
 * The multipart writes the registry needs, done with the minio client's request primitives. Its
 * helpers are not used for these because they lose data: `composeObject` numbers every range of a
 * source with the source's index, so a source over ~550 MB is stored as its last range only (a 1 GiB
 * blob became its last 512 MiB), and it swallows a failed part copy; `putObject` of a stream of unknown
 * length waits for `drain` on a pipe nobody reads once a part fails. Every write here ends with the
 * stored object's size checked against what was sent.
 */
export class S3Multipart {
  constructor(
    private readonly client: Minio.Client,
    private readonly bucket: string,
    private readonly budget: ByteBudget,
  ) {}

  private async request(
    method: string,
    key: string,
    query: string,
    payload: Buffer | string = '',
    headers: Record<string, string> = {},
  ): Promise<{ headers: Record<string, unknown>; body: string }> {
    const res = await this.client.makeRequestAsync(
      { method, bucketName: this.bucket, objectName: key, query, headers },
      payload,
      [200],
    );
    const body = await readBody(res);
    // S3 may answer 200 and put the error in the body (UploadPartCopy, CompleteMultipartUpload).
    if (/<Error>/.test(body)) {
      const code = /<Code>([^<]*)<\/Code>/.exec(body)?.[1] ?? 'Error';
      throw Object.assign(
        new Error(`S3 ${method} ${key}: ${code}: ${/<Message>([^<]*)<\/Message>/.exec(body)?.[1] ?? ''}`),
        { code },
      );
    }
    return { headers: res.headers as Record<string, unknown>, body };
  }

  private async begin(key: string): Promise<string> {
    return this.client.initiateNewMultipartUpload(this.bucket, key, {});
  }

  private async finish(key: string, uploadId: string, parts: { part: number; etag: string }[]): Promise<void> {
    await this.client.completeMultipartUpload(this.bucket, key, uploadId, parts);
  }

  private async abort(key: string, uploadId: string): Promise<void> {
    await this.client.abortMultipartUpload(this.bucket, key, uploadId).catch(() => undefined);
  }

  private async putPart(key: string, uploadId: string, part: number, bytes: Buffer): Promise<string> {
    const res = await this.request('PUT', key, `partNumber=${part}&uploadId=${encodeURIComponent(uploadId)}`, bytes);
    const etag = etagOf(res);
    if (!etag) throw new Error(`S3 kept no ETag for part ${part} of ${key}`);
    return etag;
  }

  /**
   * Streams `source` into the object `key` in parts held in memory one at a time (each counted against
   * the shared budget). `onChunk` sees each piece as it is read. When the source fails, what did arrive
   * is stored (the caller resumes after it); when S3 fails, nothing is stored and S3WriteFailed is thrown.
   * An empty source stores nothing.
   */
  async putStream(
    key: string,
    source: AsyncIterable<Buffer>,
    onChunk: (chunk: Buffer) => void,
  ): Promise<{ size: number; sourceError?: Error }> {
    const open = await this.streamParts(key, source, onChunk);
    if (open.size === 0) await open.abort();
    else await open.complete();
    return { size: open.size, ...(open.sourceError ? { sourceError: open.sourceError } : {}) };
  }

  /**
   * Streams `source` into a multipart upload of `key` and stops short of completing it: nothing is
   * visible until complete(), and abort() leaves nothing behind. A source that fits one part is held
   * (against the budget) and sent with a plain PUT on complete(). When S3 fails midway, the upload is
   * aborted and S3WriteFailed is thrown; when the source fails, what arrived can still be completed.
   */
  async streamParts(key: string, source: AsyncIterable<Buffer>, onChunk: (chunk: Buffer) => void): Promise<OpenParts> {
    let uploadId: string | undefined;
    const parts: { part: number; etag: string }[] = [];
    let started = 0;
    let buf: Buffer | undefined;
    let fill = 0;
    let held = 0;
    let size = 0;
    let sourceError: Error | undefined;
    let settled = false;
    // One part uploads while the next one fills: the client is read while S3 writes, as it would be
    // with a direct stream, and memory stays at two parts per push.
    let inflight: Promise<void> | undefined;
    const release = () => {
      if (held) this.budget.give(held);
      held = 0;
      buf = undefined;
    };
    const settle = async () => {
      const pending = inflight;
      inflight = undefined;
      if (pending) await pending;
    };
    const send = async () => {
      await settle();
      const bytes = buf!.subarray(0, fill);
      const budgeted = held;
      buf = undefined;
      held = 0;
      const part = ++started;
      inflight = (async () => {
        try {
          uploadId ??= await this.begin(key);
          parts.push({ part, etag: await this.putPart(key, uploadId, part, bytes) });
        } catch (err) {
          throw new S3WriteFailed(`S3 refused part ${part} of ${key}: ${(err as Error).message}`, err);
        } finally {
          this.budget.give(budgeted);
        }
      })();
      // Seen by settle(); until then a failure must not count as unhandled.
      inflight.catch(() => undefined);
    };
    const abort = async () => {
      if (settled) return;
      settled = true;
      release();
      await settle().catch(() => undefined);
      if (uploadId) await this.abort(key, uploadId);
    };
    try {
      // Copied into the part at once: counted for the young collections, no body count needed.
      for await (const chunk of source) {
        bodyBytesTaken(chunk.length);
        onChunk(chunk);
        size += chunk.length;
        for (let off = 0; off < chunk.length;) {
          if (!buf) {
            held = partSizeFor(started + 1);
            await this.budget.take(held);
            buf = Buffer.allocUnsafeSlow(held);
            fill = 0;
          }
          const n = chunk.copy(buf, fill, off);
          fill += n;
          off += n;
          if (fill === buf.length) await send();
        }
      }
      await settle();
    } catch (err) {
      if (err instanceof S3WriteFailed) {
        await abort();
        throw err;
      }
      // The client went away: keep what arrived, so that the upload can resume after it.
      sourceError = err as Error;
      try {
        await settle();
      } catch (failed) {
        await abort();
        throw failed;
      }
    }
    const complete = async () => {
      if (settled) throw new Error(`multipart write of ${key} already ended`);
      try {
        try {
          if (!uploadId) {
            // It all fitted in one part (or none): a plain PUT.
            await this.request('PUT', key, '', buf ? buf.subarray(0, fill) : Buffer.alloc(0));
            release();
          } else {
            if (buf && fill > 0) {
              await send();
              await settle();
            }
            await this.finish(key, uploadId, parts);
          }
        } catch (err) {
          throw err instanceof S3WriteFailed
            ? err
            : new S3WriteFailed(`S3 did not store ${key}: ${(err as Error).message}`, err);
        }
        settled = true;
        await this.verify(key, size, uploadId ? parts.length : undefined);
      } catch (err) {
        await abort();
        throw err;
      }
    };
    return { size, ...(sourceError ? { sourceError } : {}), complete, abort };
  }

  /**
   * When a multipart upload last took a part (its start when it has none): a write whose process died
   * stops taking parts, one still streaming keeps this fresh.
   */
  async lastActivity(key: string, uploadId: string, initiated: Date): Promise<Date> {
    let latest = initiated.getTime();
    let marker = '0';
    for (;;) {
      const query = `uploadId=${encodeURIComponent(uploadId)}&max-parts=1000&part-number-marker=${marker}`;
      const { body } = await this.request('GET', key, query);
      for (const m of body.matchAll(/<LastModified>([^<]+)<\/LastModified>/g)) {
        latest = Math.max(latest, new Date(m[1]!).getTime() || 0);
      }
      const next = /<NextPartNumberMarker>(\d+)<\/NextPartNumberMarker>/.exec(body)?.[1];
      if (!/<IsTruncated>true<\/IsTruncated>/.test(body) || !next || next === marker) break;
      marker = next;
    }
    return new Date(latest);
  }

  /**
   * Makes `key` the concatenation of `sources` without the bytes passing through the registry: one
   * CopyObject for a single source up to 5 GiB, else UploadPartCopy of ranges of at most 5 GiB, each
   * numbered in order. The caller has checked composable().
   */
  async compose(key: string, sources: { key: string; size: number }[]): Promise<void> {
    const size = sources.reduce((n, s) => n + s.size, 0);
    const copySource = (k: string) => `/${this.bucket}/${encodeURI(k)}`;
    if (sources.length === 1 && size <= MAX_PART) {
      await this.request('PUT', key, '', '', { 'x-amz-copy-source': copySource(sources[0]!.key) });
      await this.verify(key, size);
      return;
    }
    const jobs = sources.flatMap((s) => copyRanges(s.size).map((r) => ({ source: s.key, ...r })));
    const uploadId = await this.begin(key);
    try {
      const parts: { part: number; etag: string }[] = new Array(jobs.length);
      let next = 0;
      // A few copies at once: each is a server-side copy of up to 5 GiB, the registry only waits.
      const worker = async () => {
        while (next < jobs.length) {
          const i = next++;
          const job = jobs[i]!;
          const res = await this.request(
            'PUT',
            key,
            `partNumber=${i + 1}&uploadId=${encodeURIComponent(uploadId)}`,
            '',
            {
              'x-amz-copy-source': copySource(job.source),
              'x-amz-copy-source-range': `bytes=${job.start}-${job.end}`,
            },
          );
          const etag = etagOf(res, res.body);
          if (!etag) throw new Error(`S3 kept no ETag for copied part ${i + 1} of ${key}`);
          parts[i] = { part: i + 1, etag };
        }
      };
      await Promise.all(Array.from({ length: Math.min(4, jobs.length) }, worker));
      await this.finish(key, uploadId, parts);
    } catch (err) {
      await this.abort(key, uploadId);
      throw err;
    }
    await this.verify(key, size, jobs.length);
  }

  /** Cuts `key` to its first `length` bytes (at least 1, at most 5 GiB) without reading it here. */
  async truncate(key: string, length: number): Promise<void> {
    const uploadId = await this.begin(key);
    try {
      const res = await this.request('PUT', key, `partNumber=1&uploadId=${encodeURIComponent(uploadId)}`, '', {
        'x-amz-copy-source': `/${this.bucket}/${encodeURI(key)}`,
        'x-amz-copy-source-range': `bytes=0-${length - 1}`,
      });
      const etag = etagOf(res, res.body);
      if (!etag) throw new Error(`S3 kept no ETag for the copy cutting ${key}`);
      await this.finish(key, uploadId, [{ part: 1, etag }]);
    } catch (err) {
      await this.abort(key, uploadId);
      throw err;
    }
    await this.verify(key, length, 1);
  }

  /**
   * The proof before anything is acknowledged: the stored object has the size that was sent and, for a
   * multipart object whose ETag says so, the number of parts that were sent. On a mismatch the object is
   * removed (nothing wrong stays visible) and StoredSizeMismatch is thrown.
   */
  async verify(key: string, size: number, parts?: number): Promise<void> {
    const st = await this.client.statObject(this.bucket, key);
    const count = /-(\d+)$/.exec(st.etag ?? '')?.[1];
    const partsOk = parts === undefined || count === undefined || Number(count) === parts;
    if (st.size !== size || !partsOk) {
      await this.client.removeObject(this.bucket, key).catch(() => undefined);
      throw new StoredSizeMismatch(
        key,
        size,
        st.size,
        parts !== undefined && count !== undefined ? `${count} of ${parts} parts` : undefined,
      );
    }
  }
}
