import { createHash, type Hash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { lstat, mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { feedHash } from './hash-file';
import { readAll } from './http-transport';
import { formatBytes, type ProgressTask, type Reporter } from './progress';
import { registryErrorOf, type RegistryClient } from './registry-client';
import { PARTIAL_SUFFIX } from './walk';

/** The bytes received do not hash to the digest the manifest names. The partial file is already deleted. */
export class DigestMismatchError extends Error {
  constructor(
    readonly file: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(
      `${file}: downloaded content does not match its digest (expected ${expected}, got ${actual}); the partial download was deleted. Pull again; if it happens again, the registry's copy is damaged`,
    );
    this.name = 'DigestMismatchError';
  }
}

export interface BlobRef {
  digest: string;
  size: number;
}

export interface DownloadResult {
  status: 'present' | 'downloaded';
  /** Set when a previous run's partial file was continued with a Range request. */
  resumedFrom?: number;
}

/** In-process retries of a broken transfer, each continuing where it stopped. */
const MAX_ATTEMPTS = 4;

async function sizeOf(file: string): Promise<{ size: number; regular: boolean } | undefined> {
  try {
    const s = await lstat(file);
    return { size: s.size, regular: s.isFile() };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}

/** Whether `file` already holds exactly the blob (then it is not fetched again). */
export async function holdsBlob(file: string, blob: BlobRef): Promise<boolean> {
  const s = await sizeOf(file);
  if (!s?.regular || s.size !== blob.size) return false;
  const hash = createHash(blob.digest.split(':')[0]!);
  await feedHash(hash, file);
  return `${blob.digest.split(':')[0]}:${hash.digest('hex')}` === blob.digest;
}

/** Hashes what passes through, counts it, and refuses more than the blob's declared size. */
class Meter extends Transform {
  received = 0;
  constructor(
    private readonly hash: Hash,
    private readonly limit: number,
    private readonly task: ProgressTask,
  ) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.received += chunk.length;
    if (this.received > this.limit) {
      done(new Error(`the registry sent more bytes than the manifest declares (${this.limit})`));
      return;
    }
    this.hash.update(chunk);
    this.task.add(chunk.length);
    done(null, chunk);
  }
}

/**
 * Downloads a blob into `dest`: bytes go to `<dest>.partial`, a later run continues that file with a
 * `Range` request, and the digest is checked over the whole file before it is renamed into place.
 */
export async function downloadBlob(
  client: RegistryClient,
  repository: string,
  blob: BlobRef,
  dest: string,
  label: string,
  reporter: Reporter,
): Promise<DownloadResult> {
  if (await holdsBlob(dest, blob)) return { status: 'present' };
  await mkdir(path.dirname(dest), { recursive: true });
  const partial = `${dest}${PARTIAL_SUFFIX}`;
  const algorithm = blob.digest.split(':')[0]!;
  let resumedFrom: number | undefined;
  let lastError: Error | undefined;

  for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
    if (attempt > 1) {
      reporter.info(`${label}: ${lastError?.message ?? 'transfer broken'}; retrying (${attempt}/${MAX_ATTEMPTS})`);
      await new Promise((r) => setTimeout(r, 1000 * (attempt - 1)));
    }
    // Never write through a link: a planted `<file>.partial` symlink must not redirect our bytes.
    const existing = await sizeOf(partial);
    if (existing && (!existing.regular || existing.size > blob.size))
      await rm(partial, { force: true, recursive: true });
    let have = existing?.regular && existing.size <= blob.size ? existing.size : 0;
    const hash = createHash(algorithm);
    if (have > 0) {
      await feedHash(hash, partial, have);
      if (attempt === 1) {
        resumedFrom = have;
        reporter.info(
          `${label}: resuming download from byte ${have} (${formatBytes(have)} of ${formatBytes(blob.size)} already here)`,
        );
      }
    }

    if (have < blob.size) {
      const res = await client.requestStream('GET', `/v2/${repository}/blobs/${blob.digest}`, {
        scope: `repository:${repository}:pull`,
        headers: have > 0 ? { Range: `bytes=${have}-` } : {},
      });
      if (res.status === 416 && have > 0) {
        // The registry's blob is shorter than our partial file claims: that file is not this blob.
        res.body.resume();
        await rm(partial, { force: true });
        lastError = new Error('the partial file is longer than the blob; starting over');
        continue;
      }
      if (res.status !== 200 && res.status !== 206) {
        throw registryErrorOf(
          { status: res.status, headers: res.headers, body: await readAll(res.body) },
          `downloading ${label}`,
        );
      }
      const start = res.status === 206 ? Number(/^bytes (\d+)-/.exec(res.headers['content-range'] ?? '')?.[1]) : 0;
      let fresh = hash;
      if (start !== have) {
        if (res.status === 206) {
          res.body.destroy();
          throw new Error(
            `${label}: the registry answered a range request for byte ${have} with ${res.headers['content-range']}`,
          );
        }
        // A 200 to a Range request (a proxy that ignores ranges): start over from the first byte.
        have = 0;
        fresh = createHash(algorithm);
      }
      const task = reporter.task(label, blob.size, have);
      const meter = new Meter(fresh, blob.size - have, task);
      try {
        await pipeline(res.body, meter, createWriteStream(partial, { flags: have > 0 ? 'a' : 'w' }));
      } catch (err) {
        lastError = err as Error;
        task.finish();
        // What arrived is kept: the next attempt (or run) continues after it.
        continue;
      }
      task.finish();
      have += meter.received;
      if (have !== blob.size) {
        lastError = new Error(`the transfer ended after ${have} of ${blob.size} bytes`);
        continue;
      }
      return finish(partial, dest, blob, fresh, label, resumedFrom);
    }
    // Nothing to fetch: the partial file is complete, or the blob is empty (and there may be no file yet).
    if (blob.size === 0) await writeFile(partial, '');
    return finish(partial, dest, blob, hash, label, resumedFrom);
  }
  throw new Error(
    `${label}: download failed after ${MAX_ATTEMPTS} attempts (${lastError?.message ?? 'no data'}); run the pull again to resume`,
  );
}

async function finish(
  partial: string,
  dest: string,
  blob: BlobRef,
  hash: Hash,
  label: string,
  resumedFrom: number | undefined,
): Promise<DownloadResult> {
  const actual = `${blob.digest.split(':')[0]}:${hash.digest('hex')}`;
  if (actual !== blob.digest) {
    await rm(partial, { force: true });
    throw new DigestMismatchError(label, blob.digest, actual);
  }
  await rename(partial, dest);
  return { status: 'downloaded', ...(resumedFrom !== undefined ? { resumedFrom } : {}) };
}
