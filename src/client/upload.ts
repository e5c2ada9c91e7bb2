import { createReadStream } from 'node:fs';
import { pipeline, Transform, type Readable } from 'node:stream';
import { formatBytes, type ProgressTask, type Reporter } from './progress';
import { expectOk, registryErrorOf, type RegistryClient, type RegistryResponse } from './registry-client';
import { readUploadState, removeUploadState, stateFileOf, writeUploadState, type UploadState } from './upload-state';

export const DEFAULT_CHUNK_SIZE = 64 * 1024 * 1024;

/** A blob to push: a file on disk (streamed) or bytes in memory (configs). */
export interface BlobSource {
  digest: string;
  size: number;
  /** What progress and errors call it (the file's path in the artifact). */
  label: string;
  file?: string;
  data?: Buffer;
}

export interface UploadOptions {
  chunkSize: number;
  /** Directory of the resumable-upload state files. */
  stateDir: string;
  reporter: Reporter;
}

export interface UploadResult {
  status: 'exists' | 'uploaded';
  /** Set when a previous run's upload was continued: the offset the registry already held. */
  resumedFrom?: number;
}

/** Transient trouble (network, 429, 5xx) is retried this many times in a row before giving up. */
const MAX_RETRIES = 10;
const READ_SIZE = 1 << 20;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The offset a `Range: 0-<last>` header stands for. `0-0` is ambiguous in the spec (nothing, or one
 * byte): it is taken as nothing unless the registry just refused offset 0, which means it holds one.
 */
export function offsetFromRange(range: string | undefined, refusedOffset?: number): number | undefined {
  const m = /^(?:bytes=)?0-(\d+)$/.exec((range ?? '').trim());
  if (!m) return undefined;
  const last = Number(m[1]);
  if (last === 0) return refusedOffset === 0 ? 1 : 0;
  return last + 1;
}

function errorCode(res: RegistryResponse): string | undefined {
  try {
    return (JSON.parse(res.body.toString('utf8')) as { errors?: { code?: string }[] }).errors?.[0]?.code;
  } catch {
    return undefined;
  }
}

/**
 * A byte range of the file as a request body, counted for progress as it is consumed. The count sits
 * in a Transform rather than a 'data' listener: a listener would start the flow before the request is
 * ready (its token may still be fetched) and the bytes read meanwhile would never reach the request.
 */
function fileStream(blob: BlobSource, start: number, end: number, task?: ProgressTask): Readable {
  const counter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      task?.add(chunk.length);
      done(null, chunk);
    },
  });
  pipeline(createReadStream(blob.file!, { start, end, highWaterMark: READ_SIZE }), counter, () => undefined);
  return counter;
}

/** Pushes one blob unless the repository has it: monolithically when small, else in resumable chunks. */
export async function uploadBlob(
  client: RegistryClient,
  repository: string,
  blob: BlobSource,
  opts: UploadOptions,
): Promise<UploadResult> {
  const scope = `repository:${repository}:pull,push`;
  const head = await client.request('HEAD', `/v2/${repository}/blobs/${blob.digest}`, { scope });
  if (head.status === 200) return { status: 'exists' };
  // Anything but 404 (a denial, say) is left to the POST below, whose answer has an error body to show.
  if (blob.data || blob.size <= opts.chunkSize) {
    await monolithic(client, repository, blob, scope, opts.reporter);
    return { status: 'uploaded' };
  }
  return chunked(client, repository, blob, scope, opts);
}

async function openUpload(
  client: RegistryClient,
  repository: string,
  blob: BlobSource,
  scope: string,
): Promise<string> {
  const res = expectOk(
    await client.request('POST', `/v2/${repository}/blobs/uploads/`, { scope }),
    `starting the upload of ${blob.label}`,
  );
  if (!res.headers.location)
    throw new Error(`starting the upload of ${blob.label}: the registry answered ${res.status} without a Location`);
  return res.headers.location;
}

async function monolithic(
  client: RegistryClient,
  repository: string,
  blob: BlobSource,
  scope: string,
  reporter: Reporter,
): Promise<void> {
  const location = await openUpload(client, repository, blob, scope);
  const task = blob.file ? reporter.task(blob.label, blob.size) : undefined;
  const body = blob.data ?? fileStream(blob, 0, Math.max(blob.size - 1, 0), task);
  try {
    const res = await client.request('PUT', location, {
      scope,
      query: { digest: blob.digest },
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(blob.size) },
      // An empty file: createReadStream with end -1 would read it all, send nothing instead.
      body: blob.size === 0 ? Buffer.alloc(0) : body,
    });
    expectOk(
      res,
      `uploading ${blob.label}${errorCode(res) === 'DIGEST_INVALID' ? ' (did the file change during the push?)' : ''}`,
    );
  } finally {
    if (!Buffer.isBuffer(body)) body.destroy();
    task?.finish();
  }
}

/** Asks the registry where a previous run's upload stands; undefined when it cannot be continued. */
async function resumable(
  client: RegistryClient,
  repository: string,
  blob: BlobSource,
  scope: string,
  state: UploadState | undefined,
  reporter: Reporter,
): Promise<UploadState | undefined> {
  if (
    !state ||
    state.registry !== client.baseUrl ||
    state.repository !== repository ||
    state.digest !== blob.digest ||
    state.size !== blob.size
  )
    return undefined;
  const res = await client.request('GET', state.location, { scope });
  if (res.status === 204 || res.status === 200) {
    const offset = offsetFromRange(res.headers.range);
    if (offset !== undefined && offset <= blob.size)
      return { ...state, location: res.headers.location ?? state.location, offset };
  }
  const why =
    res.status === 404
      ? 'the registry no longer knows it (expired or restarted without shared sessions)'
      : registryErrorOf(res).message;
  reporter.info(`${blob.label}: cannot resume the previous upload: ${why}; starting again`);
  return undefined;
}

async function chunked(
  client: RegistryClient,
  repository: string,
  blob: BlobSource,
  scope: string,
  opts: UploadOptions,
): Promise<UploadResult> {
  const stateFile = stateFileOf(opts.stateDir, blob.digest);
  const save = (s: UploadState) => writeUploadState(stateFile, { ...s, updatedAt: new Date().toISOString() });
  let state = await resumable(client, repository, blob, scope, await readUploadState(stateFile), opts.reporter);
  let resumedFrom: number | undefined;
  if (state) {
    resumedFrom = state.offset;
    opts.reporter.info(
      `${blob.label}: resuming upload from offset ${state.offset} (${formatBytes(state.offset)} of ${formatBytes(blob.size)} already on the registry)`,
    );
  } else {
    state = {
      registry: client.baseUrl,
      repository,
      digest: blob.digest,
      size: blob.size,
      location: await openUpload(client, repository, blob, scope),
      offset: 0,
      updatedAt: '',
    };
  }
  await save(state);

  const task = opts.reporter.task(blob.label, blob.size, state.offset);
  let failures = 0;
  let restarted = false;
  const retryLater = async (why: string, waitMs: number) => {
    if (++failures > MAX_RETRIES)
      throw new Error(
        `${blob.label}: giving up after ${MAX_RETRIES} retries: ${why}. Run the push again to resume from offset ${state!.offset}`,
      );
    await sleep(waitMs);
  };
  /** After an error the registry's own Range is the truth. */
  const resync = async (refused?: number): Promise<void> => {
    const res = await client.request('GET', state!.location, { scope });
    const offset = res.status === 204 || res.status === 200 ? offsetFromRange(res.headers.range, refused) : undefined;
    if (offset !== undefined) {
      state = { ...state!, location: res.headers.location ?? state!.location, offset };
      task.rewind(offset);
      await save(state);
    }
  };

  try {
    while (state.offset < blob.size) {
      const start: number = state.offset;
      const end: number = Math.min(start + opts.chunkSize, blob.size) - 1;
      const body = fileStream(blob, start, end, task);
      let res: RegistryResponse;
      try {
        res = await client.request('PATCH', state.location, {
          scope,
          headers: {
            'Content-Type': 'application/octet-stream',
            'Content-Range': `${start}-${end}`,
            'Content-Length': String(end - start + 1),
          },
          body,
        });
      } catch (err) {
        await retryLater((err as Error).message, Math.min(1000 * 2 ** failures, 15_000));
        await resync().catch(() => undefined);
        continue;
      } finally {
        body.destroy();
      }
      if (res.status === 202) {
        const offset: number = offsetFromRange(res.headers.range) ?? end + 1;
        state = { ...state, location: res.headers.location ?? state.location, offset };
        task.rewind(offset);
        await save(state);
        failures = 0;
        continue;
      }
      // Out of order, or a previous (killed) request still holds the upload: continue where the registry is.
      if (res.status === 416) {
        await retryLater(registryErrorOf(res).serverMessage, Math.min(500 * 2 ** failures, 10_000));
        const offset = offsetFromRange(res.headers.range, start);
        if (offset !== undefined) {
          state = { ...state, location: res.headers.location ?? state.location, offset };
          task.rewind(offset);
          await save(state);
        } else await resync(start);
        continue;
      }
      if (res.status === 429 || res.status >= 500) {
        const after = Number(res.headers['retry-after']);
        await retryLater(
          registryErrorOf(res).message,
          Number.isFinite(after) && after > 0 ? Math.min(after, 60) * 1000 : Math.min(1000 * 2 ** failures, 15_000),
        );
        await resync().catch(() => undefined);
        continue;
      }
      if (res.status === 404 && errorCode(res) === 'BLOB_UPLOAD_UNKNOWN' && !restarted) {
        restarted = true;
        opts.reporter.info(`${blob.label}: the registry lost the upload at offset ${state.offset}; starting again`);
        state = { ...state, location: await openUpload(client, repository, blob, scope), offset: 0 };
        task.rewind(0);
        await save(state);
        continue;
      }
      throw registryErrorOf(res, `uploading ${blob.label} at offset ${start}`);
    }

    const done = await client.request('PUT', state.location, { scope, query: { digest: blob.digest } });
    if (done.status !== 201) {
      const code = errorCode(done);
      // A wrong digest or a lost session cannot be continued: forget the state so that the next run starts clean.
      if (code === 'DIGEST_INVALID' || code === 'BLOB_UPLOAD_UNKNOWN') await removeUploadState(stateFile);
      const hint =
        code === 'DIGEST_INVALID'
          ? ' (did the file change during the push?)'
          : code === 'BLOB_UPLOAD_UNKNOWN'
            ? '; run the push again'
            : '';
      throw registryErrorOf(done, `finishing the upload of ${blob.label}${hint}`);
    }
    await removeUploadState(stateFile);
    return { status: 'uploaded', ...(resumedFrom !== undefined ? { resumedFrom } : {}) };
  } finally {
    task.finish();
  }
}
