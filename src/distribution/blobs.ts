import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendEmpty } from '../http/respond';
import { OciError } from '../oci/errors';
import { parseDigest } from '../oci/digest';
import { BlobNotFound } from '../storage/blob-store';
import { SealBroken } from '../storage/sealed-segments';
import { parseRangeHeader } from './ranges';
import { LengthGuard, LengthMismatch } from './length-guard';
import { reportIntegrityFailure } from '../integrity/alerts';
import type { Quarantine } from '../integrity/quarantine';
import type { RequestContext } from '../http/context';
import { actorOf } from '../http/actor';
import type { Config } from '../config/config';
import type { Catalog } from '../catalog/catalog';
import type { PullThrough } from '../proxy/pull-through';
import type { BlobStore } from '../storage/blob-store';
import type { Logger } from '../observability/logger';
import type { Metrics } from '../observability/metrics';
import type { AuditLog } from '../audit/audit-log';
import type { RegistryCore } from '../core/registry-core';
import { blobUnknown } from '../core/blob-operations';
import type { VerifiedBlobs } from './verified-blobs';
import { digestCheck, type ReadCheck, type ReadTags } from './read-tags';

/** What the blob handlers use: the core decides what may be served; the bytes stream through here, verified. */
export interface BlobHandlerDeps {
  config: Pick<Config, 'auth' | 'blobs' | 'integrity'>;
  core: Pick<RegistryCore, 'blobs'>;
  blobs: BlobStore;
  verified: VerifiedBlobs;
  /** With `blobs.verifyWith: tag`: reads after the first check a keyed tag instead of hashing again. */
  readTags?: ReadTags | undefined;
  quarantine: Quarantine;
  audit: AuditLog;
  logger: Logger;
  metrics: Metrics;
  /** Present when proxies are configured: blobs of their namespaces missing here come from the upstream. */
  pullThrough?: Pick<PullThrough, 'covers' | 'blob' | 'fetchBlob' | 'fetching' | 'prefetch'> | undefined;
  catalog?: Pick<Catalog, 'getBlobLink'>;
}

/**
 * Passes bytes through while checking them (read-tags.ts), and holds back the last chunk until they pass, so
 * a client never receives the complete Content-Length of a blob whose stored bytes were altered: the
 * response is cut short instead, and the client's own verification fails loudly.
 */
class VerifyingStream extends Transform {
  private held: Buffer | undefined;

  constructor(private readonly check: ReadCheck) {
    super({ highWaterMark: 1 << 20 });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.check.update(chunk);
    const previous = this.held;
    this.held = chunk;
    done(null, previous);
  }

  override _flush(done: TransformCallback): void {
    try {
      this.check.finish();
    } catch (err) {
      done(err as Error);
      return;
    }
    done(null, this.held);
  }
}

/** GET and HEAD /v2/<name>/blobs/<digest>, with single byte ranges. */
export async function getBlob(
  s: BlobHandlerDeps,
  repository: string,
  rawDigest: string,
  req: IncomingMessage,
  res: ServerResponse,
  ctx: RequestContext,
): Promise<void> {
  const digest = parseDigest(rawDigest);
  const proxied = s.pullThrough?.covers(repository) && !(await s.catalog?.getBlobLink(repository, digest.value));
  if (proxied) {
    // A whole-blob GET streams from the upstream to the client as it is stored; HEAD and ranges wait for it.
    if (req.method === 'GET' && !req.headers.range && !s.pullThrough!.fetching(repository, digest.value))
      return serveThrough(s, repository, digest.value, res, ctx);
    await s.pullThrough!.blob(repository, digest.value);
  }
  const link = await s.core.blobs.open(actorOf(ctx, s.config.auth.trustProxy), repository, digest.value);

  const range = parseRangeHeader(req.headers.range, link.size);
  if (range === 'unsatisfiable') {
    throw new OciError(
      'RANGE_INVALID',
      'requested range not satisfiable',
      { range: req.headers.range, size: link.size },
      {
        headers: { 'Content-Range': `bytes */${link.size}` },
      },
    );
  }
  res.setHeader('Docker-Content-Digest', digest.value);
  res.setHeader('Accept-Ranges', 'bytes');
  res.setHeader('ETag', `"${digest.value}"`);
  res.setHeader('Cache-Control', 'max-age=31536000, immutable');
  res.setHeader('Content-Type', 'application/octet-stream');
  const length = range ? range.end - range.start + 1 : link.size;
  res.setHeader('Content-Length', String(length));
  if (range) {
    res.statusCode = 206;
    res.setHeader('Content-Range', `bytes ${range.start}-${range.end}/${link.size}`);
  } else {
    res.statusCode = 200;
  }
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  link.served(range !== undefined);
  if (s.config.blobs.redirect && s.blobs.presignGet) {
    // Authorization happened before this point (the link check is per repository); the URL is short-lived.
    const url = await s.blobs.presignGet(digest.value, s.config.blobs.redirectTtlSeconds);
    res.statusCode = 307;
    res.removeHeader('Content-Range');
    res.removeHeader('Content-Type');
    res.setHeader('Location', url);
    res.setHeader('Content-Length', '0');
    res.setHeader('Cache-Control', 'no-store');
    res.end();
    return;
  }

  res.on('finish', () => s.metrics.bytesSent.labels('blob').inc(length));
  const verify = !range && s.config.blobs.verifyOnRead && !s.verified.isFresh(digest.value);
  const onMismatch = (actual: string) => {
    s.verified.forget(digest.value);
    void reportIntegrityFailure(
      { digest: digest.value, actual, where: 'blob-read', repository },
      {
        quarantine: s.quarantine,
        logger: s.logger,
        metrics: s.metrics,
        audit: s.audit,
        webhook: s.config.integrity.alertWebhook,
      },
    ).catch((err) => s.logger.error({ err: (err as Error).message }, 'integrity failure not recorded'));
  };
  const onMatch = () => s.verified.mark(digest.value);
  const check = () =>
    s.readTags ? s.readTags.check(digest, length, onMismatch, onMatch) : digestCheck(digest, onMismatch, onMatch);
  try {
    if (length === 0) {
      res.end();
    } else if (s.blobs.sendTo) {
      // The link's size bounds what is sent, whatever the stored file has become.
      const span = range ?? { start: 0, end: link.size - 1 };
      await s.blobs.sendTo(digest.value, span, res, verify ? lastChunkCheck(check()) : undefined);
      res.end();
    } else {
      const source = await s.blobs.read(digest.value, range);
      // The link's size bounds what is sent; a store that ends early or runs long cuts the response.
      const guard = new LengthGuard(length);
      if (verify) await pipeline(source, guard, new VerifyingStream(check()), res);
      else await pipeline(source, guard, res);
    }
  } catch (err) {
    // Sealed bytes that do not open (altered, cut, another key): corrupt, reported like a digest mismatch.
    if (err instanceof SealBroken) {
      onMismatch(`(${err.message})`);
      if (!res.headersSent)
        throw new OciError(
          'BLOB_UNKNOWN',
          'the stored copy of this blob is corrupt and quarantined; push it again to replace it',
          { repository, digest: digest.value, quarantined: true },
        );
    }
    if (err instanceof BlobNotFound && !res.headersSent) {
      // Linked in the catalog but gone from storage: an operator must know; the client gets a clean 404.
      s.logger.error({ repository, digest: digest.value }, 'blob linked in the catalog is missing from storage');
      throw blobUnknown(repository, digest.value);
    }
    // Nothing sent yet (the store failed before its first byte): an error status says why (503 when down).
    if (!res.headersSent) throw err;
    // The status line is sent; all that is left is to cut the connection so the client sees a failed transfer.
    res.destroy();
    // A store whose object ended cleanly but early (or ran long) holds the wrong bytes: quarantine it.
    if (err instanceof LengthMismatch) onMismatch(`(${err.message})`);
    if (err instanceof SealBroken) return;
    if ((err as NodeJS.ErrnoException).code !== 'ERR_STREAM_PREMATURE_CLOSE') {
      s.logger.warn({ err, repository, digest: digest.value }, 'blob download aborted');
    }
  }
}

/** A blob of a pull-through cache not cached yet: fetched, verified, stored and sent in one pass. */
async function serveThrough(
  s: BlobHandlerDeps,
  repository: string,
  digest: string,
  res: ServerResponse,
  ctx: RequestContext,
): Promise<void> {
  try {
    await s.pullThrough!.fetchBlob(
      repository,
      digest,
      (size) => {
        res.statusCode = 200;
        res.setHeader('Docker-Content-Digest', digest);
        res.setHeader('Accept-Ranges', 'bytes');
        res.setHeader('ETag', `"${digest}"`);
        res.setHeader('Content-Type', 'application/octet-stream');
        res.setHeader('Content-Length', String(size));
      },
      (chunk) =>
        new Promise<void>((resolve, reject) => {
          if (res.destroyed) return reject(new Error('client gone'));
          if (res.write(chunk)) resolve();
          else res.once('drain', resolve);
        }),
    );
  } catch (err) {
    if (!res.headersSent) throw err;
    res.destroy();
    s.logger.warn({ repository, digest, err: (err as Error).message }, 'pull-through blob cut short');
    return;
  }
  s.metrics.bytesSent.labels('blob').inc(Number(res.getHeader('Content-Length') ?? 0));
  res.end();
  // The pull is recorded like any other (the cache's own fetch is its blob.push).
  (await s.core.blobs.open(actorOf(ctx, s.config.auth.trustProxy), repository, digest)).served(false);
}

/** For BlobStore.sendTo: checks each chunk, and refuses to let the last one out if the bytes are wrong. */
function lastChunkCheck(check: ReadCheck) {
  return (chunk: Buffer, last: boolean) => {
    check.update(chunk);
    if (last) check.finish();
  };
}

/** DELETE /v2/<name>/blobs/<digest>: unlinks it from the repository; the collector reclaims the bytes. */
export async function deleteBlob(
  s: Pick<BlobHandlerDeps, 'core' | 'config'>,
  repository: string,
  rawDigest: string,
  res: ServerResponse,
  ctx: RequestContext,
): Promise<void> {
  const digest = parseDigest(rawDigest);
  await s.core.blobs.delete(actorOf(ctx, s.config.auth.trustProxy), repository, digest.value);
  sendEmpty(res, 202);
}
