import { createHash } from 'node:crypto';
import { lstat, mkdir, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { readAll } from './http-transport';
import type { Reporter } from './progress';
import { registryErrorOf, type RegistryClient } from './registry-client';
import { DigestMismatchError, holdsBlob, type BlobRef, type DownloadResult } from './download';
import { PARTIAL_SUFFIX } from './walk';

export interface ParallelOptions {
  /** Range requests in flight at once. */
  connections: number;
  /** The size of each range: what a broken transfer costs at most, per connection. */
  partBytes: number;
}

/** Which parts of `<dest>.partial` hold their bytes, kept beside it so that a later run continues. */
interface PartsState {
  digest: string;
  size: number;
  partBytes: number;
  done: number[];
}

const PARTS_SUFFIX = '.parts';
const MAX_ATTEMPTS = 4;

async function readState(file: string, blob: BlobRef, partBytes: number): Promise<Set<number>> {
  try {
    const s = JSON.parse(await readFile(file, 'utf8')) as PartsState;
    if (s.digest === blob.digest && s.size === blob.size && s.partBytes === partBytes && Array.isArray(s.done))
      return new Set(s.done.filter((n) => Number.isInteger(n)));
  } catch {
    // no state, or not ours: start over
  }
  return new Set();
}

/**
 * Downloads a large blob with several `Range` requests at once into `<dest>.partial` (each part written
 * at its offset), then checks the digest over the whole file before renaming it into place. Finished
 * parts are recorded in `<dest>.partial.parts`: a broken part is fetched again (up to 4 times), and a
 * later run fetches only the parts still missing. One slow connection no longer sets the pace: on a
 * long-distance link each TCP connection is limited by its window, not by the path.
 */
export async function downloadBlobParallel(
  client: RegistryClient,
  repository: string,
  blob: BlobRef,
  dest: string,
  label: string,
  reporter: Reporter,
  opts: ParallelOptions,
): Promise<DownloadResult> {
  if (await holdsBlob(dest, blob)) return { status: 'present' };
  await mkdir(path.dirname(dest), { recursive: true });
  const partial = `${dest}${PARTIAL_SUFFIX}`;
  const stateFile = `${partial}${PARTS_SUFFIX}`;
  const parts = Math.ceil(blob.size / opts.partBytes);
  const done = await readState(stateFile, blob, opts.partBytes);
  // Never write through a link (a planted `<file>.partial` symlink must not redirect our bytes).
  const existing = await lstat(partial).catch(() => undefined);
  if (existing && (!existing.isFile() || existing.size > blob.size)) {
    await rm(partial, { force: true, recursive: true });
    done.clear();
  }
  if (!existing) done.clear();
  const resumedFrom = done.size ? Math.min(blob.size, done.size * opts.partBytes) : undefined;
  if (resumedFrom) reporter.info(`${label}: resuming, ${done.size} of ${parts} parts already here`);

  const fh = await open(partial, existing && done.size ? 'r+' : 'w+');
  const task = reporter.task(label, blob.size, resumedFrom ?? 0);
  // The digest is computed while the parts arrive: each part is read back (from the page cache) and
  // hashed as soon as every part before it is in, so no second pass over the file follows the download.
  const algorithm = blob.digest.split(':')[0]!;
  const hash = createHash(algorithm);
  let hashed = 0;
  let hashing = Promise.resolve();
  const buffer = Buffer.allocUnsafe(Math.min(opts.partBytes, 4 * 1024 * 1024));
  const hashReady = () =>
    (hashing = hashing.then(async () => {
      for (; hashed < parts && done.has(hashed); hashed++) {
        const end = Math.min(blob.size, (hashed + 1) * opts.partBytes);
        for (let at = hashed * opts.partBytes; at < end;) {
          const { bytesRead } = await fh.read(buffer, 0, Math.min(buffer.length, end - at), at);
          if (bytesRead === 0) throw new Error(`${label}: the partial file ended at byte ${at}`);
          hash.update(buffer.subarray(0, bytesRead));
          at += bytesRead;
        }
      }
    }));
  let saving = Promise.resolve();
  // Written aside and renamed: a kill in the middle of a write must not leave half a state file.
  const save = () =>
    (saving = saving.then(async () => {
      const state: PartsState = { digest: blob.digest, size: blob.size, partBytes: opts.partBytes, done: [...done] };
      await writeFile(`${stateFile}.tmp`, JSON.stringify(state));
      await rename(`${stateFile}.tmp`, stateFile);
    }));
  try {
    await fh.truncate(blob.size);
    hashReady();
    const queue = [...Array(parts).keys()].filter((i) => !done.has(i));
    const fetchPart = async (i: number): Promise<void> => {
      const start = i * opts.partBytes;
      const end = Math.min(blob.size, start + opts.partBytes) - 1;
      let lastError: Error | undefined;
      for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
        if (attempt > 1) await new Promise((r) => setTimeout(r, 500 * attempt));
        const res = await client.requestStream('GET', `/v2/${repository}/blobs/${blob.digest}`, {
          scope: `repository:${repository}:pull`,
          headers: { Range: `bytes=${start}-${end}` },
        });
        if (res.status !== 206) {
          const body = await readAll(res.body);
          if (res.status === 200)
            throw new Error(`${label}: the registry does not serve ranges; pull with --connections 1`);
          throw registryErrorOf({ status: res.status, headers: res.headers, body }, `downloading ${label}`);
        }
        const range = /^bytes (\d+)-(\d+)\//.exec(res.headers['content-range'] ?? '');
        if (!range || Number(range[1]) !== start || Number(range[2]) !== end) {
          res.body.destroy();
          throw new Error(
            `${label}: asked for bytes ${start}-${end}, the registry sent ${res.headers['content-range']}`,
          );
        }
        let at = start;
        try {
          for await (const chunk of res.body as AsyncIterable<Buffer>) {
            if (at + chunk.length > end + 1) throw new Error('the registry sent more bytes than the range');
            await fh.write(chunk, 0, chunk.length, at);
            at += chunk.length;
            task.add(chunk.length);
          }
        } catch (err) {
          lastError = err as Error;
        }
        if (at === end + 1) {
          done.add(i);
          hashReady();
          await save();
          return;
        }
        lastError ??= new Error(`the transfer ended after ${at - start} of ${end + 1 - start} bytes`);
      }
      throw new Error(
        `${label}: bytes ${start}-${end} failed after ${MAX_ATTEMPTS} attempts (${lastError?.message}); run the pull again to resume`,
      );
    };
    const workers = Array.from({ length: Math.min(opts.connections, queue.length) }, async () => {
      for (let i = queue.shift(); i !== undefined; i = queue.shift()) await fetchPart(i);
    });
    const results = await Promise.allSettled(workers);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    await hashing;
    if (hashed !== parts) throw new Error(`${label}: ${parts - hashed} part(s) missing after the download`);
  } finally {
    task.finish();
    await saving.catch(() => undefined);
    await hashing.catch(() => undefined);
    await fh.close();
  }
  const actual = `${algorithm}:${hash.digest('hex')}`;
  await rm(stateFile, { force: true });
  await rm(`${stateFile}.tmp`, { force: true });
  if (actual !== blob.digest) {
    await rm(partial, { force: true });
    throw new DigestMismatchError(label, blob.digest, actual);
  }
  await rename(partial, dest);
  return { status: 'downloaded', ...(resumedFrom !== undefined ? { resumedFrom } : {}) };
}
