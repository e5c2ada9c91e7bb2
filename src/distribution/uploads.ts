import { createHash, randomUUID, type Hash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { RequestContext } from '../http/context';
import { sendEmpty } from '../http/respond';
import { OciError } from '../oci/errors';
import { parseDigest, type ParsedDigest } from '../oci/digest';
import { assertRepositoryName } from '../oci/names';
import { queryParam } from '../http/query';
import { BlobNotFound, StageOffsetMismatch, StoredSizeMismatch, type AppendResult } from '../storage/blob-store';
import type { UploadSession } from '../sessions/upload-session-store';
import { parseChunkRange } from './ranges';
import type { BlobStore } from '../storage/blob-store';
import type { UploadSessionStore } from '../sessions/upload-session-store';
import type { Config } from '../config/config';
import type { Logger } from '../observability/logger';
import type { Metrics } from '../observability/metrics';
import type { RegistryCore } from '../core/registry-core';
import { actorOf } from '../http/actor';
import type { UploadHashes } from '../sessions/upload-hashes';
import type { VerifiedBlobs } from './verified-blobs';

/** What the upload handlers use: sessions and staging here; the core verifies, links and records. */
export interface UploadHandlerDeps {
  config: Pick<Config, 'auth'>;
  core: Pick<RegistryCore, 'blobs'>;
  blobs: BlobStore;
  sessions: UploadSessionStore;
  hashes: UploadHashes;
  verified: VerifiedBlobs;
  metrics: Metrics;
  logger: Logger;
}

/** How long a request holds an upload's write lease; renewed while a long chunk streams in. */
const LEASE_MS = 60_000;
const RENEW_MS = 15_000;
const UPLOAD_ID = /^[A-Za-z0-9_-]{1,128}$/;

function uploadLocation(repository: string, id: string): string {
  return `/v2/${repository}/blobs/uploads/${id}`;
}

/** The spec's Range for an upload: the inclusive range received, `0-0` before any byte (as Distribution does). */
function rangeOf(offset: number): string {
  return `0-${offset > 0 ? offset - 1 : 0}`;
}

function sendUploadStatus(res: ServerResponse, status: number, repository: string, id: string, offset: number): void {
  res.setHeader('Location', uploadLocation(repository, id));
  res.setHeader('Range', rangeOf(offset));
  res.setHeader('Docker-Upload-UUID', id);
  sendEmpty(res, status);
}

function sendBlobCreated(res: ServerResponse, repository: string, digest: string): void {
  res.setHeader('Location', `/v2/${repository}/blobs/${digest}`);
  res.setHeader('Docker-Content-Digest', digest);
  sendEmpty(res, 201);
}

function uploadUnknown(id: string, why = 'upload unknown to registry'): OciError {
  return new OciError('BLOB_UPLOAD_UNKNOWN', why, { upload: id });
}

function rangeMismatch(repository: string, id: string, offset: number, message: string, detail: unknown): OciError {
  return new OciError('BLOB_UPLOAD_INVALID', message, detail, {
    status: 416,
    headers: { Range: rangeOf(offset), Location: uploadLocation(repository, id), 'Docker-Upload-UUID': id },
  });
}

/** The client went away mid-body: there is nobody to answer. */
class ClientGone extends Error {}

/** The store failed to keep what it was given (S3 refused a part, the disk is full): say so, retryably. */
function storeFailed(error: Error, detail: Record<string, unknown>): OciError {
  return new OciError('UNAVAILABLE', `storage did not keep the upload: ${error.message}`, detail);
}

/** A failed append: the client gone (nobody to answer) or the store at fault (a 503 the client sees). */
function appendFailure(result: AppendResult, detail: Record<string, unknown>): Error {
  return result.failed === 'store' ? storeFailed(result.error!, detail) : new ClientGone(result.error!.message);
}

function hasBody(req: IncomingMessage): boolean {
  const len = req.headers['content-length'];
  return (len !== undefined && len !== '0') || req.headers['transfer-encoding'] !== undefined;
}

function declaredLength(req: IncomingMessage): number | undefined {
  const len = req.headers['content-length'];
  return len === undefined ? undefined : Number(len);
}

async function openSession(
  s: UploadHandlerDeps,
  repository: string,
  id: string,
  ctx: RequestContext,
): Promise<UploadSession> {
  if (!UPLOAD_ID.test(id)) throw uploadUnknown(id, 'malformed upload id');
  const session = await s.sessions.get(id);
  // An upload is reachable only through the repository that opened it.
  if (!session || session.repository !== repository) throw uploadUnknown(id);
  // ...and only by the identity that opened it. That identity may go on with the token it started with
  // after that token expired (a 100 GB push outlives a 5-minute token); the gate already checked that
  // the identity is still enabled and still allowed to push here.
  const who = ctx.auth?.principal.id;
  if (session.owner && who !== session.owner) {
    throw new OciError('DENIED', 'this upload was opened by another identity', { upload: id });
  }
  if (ctx.auth?.expired && !session.owner) throw new OciError('UNAUTHORIZED', 'token expired', { upload: id });
  return session;
}

/** Runs `work` holding the upload's write lease, renewing it (and the idle timer) while the work lasts. */
async function withLease<T>(
  s: UploadHandlerDeps,
  repository: string,
  session: UploadSession,
  work: () => Promise<T>,
): Promise<T> {
  const token = await s.sessions.lock(session.id, LEASE_MS);
  if (!token) {
    throw rangeMismatch(repository, session.id, session.offset, 'another request is writing this upload', {
      upload: session.id,
    });
  }
  const renew = setInterval(() => {
    void s.sessions.lock(session.id, LEASE_MS, token).catch(() => undefined);
    void s.sessions.touch(session.id).catch(() => undefined);
  }, RENEW_MS);
  renew.unref();
  try {
    return await work();
  } finally {
    clearInterval(renew);
    await s.sessions.unlock(session.id, token).catch(() => undefined);
  }
}

/**
 * Brings the session in line with its staged bytes after a crash between writing a chunk and recording
 * it: bytes on disk beyond the recorded offset were received in order, so they count. Fewer bytes than
 * recorded means the staged data is lost, and the upload cannot be finished correctly. Call it only
 * while holding the upload's lease, so that no writer is between its write and its record.
 */
async function reconcile(s: UploadHandlerDeps, session: UploadSession): Promise<number> {
  let current = session;
  for (let attempt = 0; attempt < 3; attempt++) {
    const staged = await s.blobs.stageSize(current.id);
    if (staged === current.offset) return staged;
    if (staged === undefined || staged < current.offset) break;
    if (await s.sessions.advance(current.id, current.offset, staged)) {
      s.hashes.delete(current.id);
      return staged;
    }
    const fresh = await s.sessions.get(current.id);
    if (!fresh) throw uploadUnknown(current.id);
    current = fresh;
  }
  await cancel(s, current.id);
  s.logger.error({ upload: current.id, recorded: current.offset }, 'upload lost its staged data');
  throw uploadUnknown(current.id, 'the upload lost its staged data; start a new upload');
}

async function cancel(s: UploadHandlerDeps, id: string): Promise<void> {
  s.hashes.delete(id);
  await s.sessions.delete(id);
  await s.blobs.stageDelete(id);
}

/** Appends the request body to the upload at its current offset; returns the new offset. */
async function appendBody(
  s: UploadHandlerDeps,
  repository: string,
  session: UploadSession,
  req: IncomingMessage,
): Promise<number> {
  const offset = session.offset;
  const header = req.headers['content-range'];
  let expected: number | undefined;
  if (header !== undefined) {
    const range = parseChunkRange(header);
    if (range.start !== offset) {
      throw rangeMismatch(repository, session.id, offset, 'chunk out of order', { contentRange: header, offset });
    }
    expected = range.end - range.start + 1;
    const length = declaredLength(req);
    if (length !== undefined && length !== expected) {
      throw new OciError('BLOB_UPLOAD_INVALID', 'Content-Length does not match Content-Range', {
        contentRange: header,
        contentLength: length,
      });
    }
  }
  const hash = await s.hashes.at(session.id, offset);
  let hashed = 0;
  let result;
  try {
    result = await s.blobs.stageAppend(session.id, offset, req, (chunk) => {
      hash.update(chunk);
      hashed += chunk.length;
    });
  } catch (err) {
    // The hash may have seen bytes the store did not keep.
    if (hashed > 0) s.hashes.delete(session.id);
    if (err instanceof StageOffsetMismatch) {
      const now = await reconcile(s, session);
      throw rangeMismatch(repository, session.id, now, 'upload offset changed; resume from Range', { offset: now });
    }
    if (err instanceof BlobNotFound) {
      await cancel(s, session.id);
      throw uploadUnknown(session.id, 'the upload lost its staged data; start a new upload');
    }
    throw err;
  }
  s.metrics.bytesReceived.labels('upload').inc(result.size - offset);
  if (!(await s.sessions.advance(session.id, offset, result.size))) {
    s.hashes.delete(session.id);
    throw uploadUnknown(session.id, 'the upload was cancelled or expired while the chunk was written');
  }
  // A store that keeps a chunk whole or not at all (S3) may have shown us bytes it did not keep: then
  // the hash is dropped, and rebuilt from the staged bytes when the client resumes.
  if (hashed === result.size - offset) s.hashes.set(session.id, hash, result.size);
  else s.hashes.delete(session.id);
  session.offset = result.size;
  if (result.error) throw appendFailure(result, { upload: session.id, offset: result.size });
  if (expected !== undefined && result.size - offset !== expected) {
    throw rangeMismatch(
      repository,
      session.id,
      result.size,
      'received a different length than Content-Range announced',
      {
        announced: expected,
        received: result.size - offset,
      },
    );
  }
  return result.size;
}

async function digestOfStaged(s: UploadHandlerDeps, id: string, offset: number, digest: ParsedDigest): Promise<string> {
  let hash: Hash;
  if (digest.algorithm === 'sha256') {
    // copy(): the live hash stays usable if the digest turns out wrong.
    hash = (await s.hashes.at(id, offset)).copy();
  } else {
    // Only sha256 is hashed while streaming; another algorithm costs one re-read at the end.
    hash = createHash(digest.algorithm);
    for await (const chunk of await s.blobs.stageRead(id, offset)) hash.update(chunk as Buffer);
  }
  return `${digest.algorithm}:${hash.digest('hex')}`;
}

/** Bytes received for a blob: how to check them, place them in the store, and drop them. */
interface Received {
  size: number;
  actualDigest(): Promise<string>;
  place(): Promise<unknown>;
  /** The upload's own bookkeeping once linked (the session ends). */
  onLinked(): Promise<void>;
  /** Refused or not kept: the bytes go (and the session, if any). */
  drop(): Promise<void>;
  /** Failed otherwise (a backend down): what is not resumable goes, the session stays. */
  release(): Promise<void>;
}

/** Staged bytes of an upload session. */
function stagedUpload(s: UploadHandlerDeps, id: string, size: number, digest: ParsedDigest): Received {
  return {
    size,
    actualDigest: () => digestOfStaged(s, id, size, digest),
    place: () => s.blobs.stageCommit(id, digest.value, size),
    onLinked: async () => {
      await s.sessions.delete(id);
      s.hashes.delete(id);
    },
    drop: () => cancel(s, id),
    release: async () => undefined,
  };
}

/**
 * A request body written straight to its final place (S3: a multipart upload of the blob's object), its
 * digest taken as it streamed. The pending write is published or discarded, never left.
 */
async function writeDirect(
  s: UploadHandlerDeps,
  digest: ParsedDigest,
  req: IncomingMessage,
  session?: string,
): Promise<Received> {
  const hash = createHash(digest.algorithm);
  const pending = await s.blobs.writeBlob(digest.value, req, (chunk) => hash.update(chunk));
  const { result } = pending;
  s.metrics.bytesReceived.labels('upload').inc(result.size);
  if (result.error) {
    await pending.discard().catch(() => undefined);
    throw appendFailure(result, { digest: digest.value, ...(session ? { upload: session } : {}) });
  }
  const actual = `${digest.algorithm}:${hash.digest('hex')}`;
  return {
    size: result.size,
    actualDigest: () => Promise.resolve(actual),
    place: () => pending.publish(),
    onLinked: async () => {
      if (session) await cancel(s, session);
    },
    drop: async () => {
      await pending.discard();
      if (session) await cancel(s, session);
    },
    release: () => pending.discard(),
  };
}

/** Verifies received bytes against `digest` and makes them the blob, linked in the repository (the core's commit). */
async function commit(
  s: UploadHandlerDeps,
  ctx: RequestContext,
  repository: string,
  digest: ParsedDigest,
  received: Received,
  openedAt: number,
  kind: string,
): Promise<void> {
  try {
    await s.core.blobs.commit(actorOf(ctx, s.config.auth.trustProxy), {
      repository,
      digest: digest.value,
      size: received.size,
      upload: kind,
      actualDigest: received.actualDigest,
      place: received.place,
      onLinked: async () => {
        s.verified.mark(digest.value);
        await received.onLinked();
        s.metrics.uploadDuration.labels(kind).observe((Date.now() - openedAt) / 1000);
      },
    });
  } catch (err) {
    // Refused (wrong digest, over quota): the bytes go. A store that failed stays resumable.
    if (err instanceof OciError && (err.code === 'DIGEST_INVALID' || err.code === 'DENIED')) await received.drop();
    if (!(err instanceof StoredSizeMismatch)) throw err;
    await received.drop();
    s.logger.error(
      { digest: digest.value, expected: err.expected, stored: err.stored },
      'storage did not keep a verified upload',
    );
    throw storeFailed(err, { digest: digest.value, size: received.size, stored: err.stored });
  }
}

/** A body that is the whole blob: written straight to its place, then committed; never left unpublished. */
async function commitDirect(
  s: UploadHandlerDeps,
  ctx: RequestContext,
  repository: string,
  digest: ParsedDigest,
  req: IncomingMessage,
  openedAt: number,
  session?: string,
): Promise<void> {
  let received: Received | undefined;
  try {
    received = await writeDirect(s, digest, req, session);
    await commit(s, ctx, repository, digest, received, openedAt, 'monolithic');
  } catch (err) {
    // Whatever was written and not published goes (a no-op once published).
    await received?.release().catch(() => undefined);
    throw err;
  }
}

/** POST /v2/<name>/blobs/uploads/: a new session, a monolithic upload (?digest=), or a mount (?mount=&from=). */
export async function startUpload(
  s: UploadHandlerDeps,
  repository: string,
  req: IncomingMessage,
  res: ServerResponse,
  ctx: RequestContext,
): Promise<void> {
  const mount = queryParam(ctx, 'mount');
  const from = queryParam(ctx, 'from');
  const digestParam = queryParam(ctx, 'digest');
  const actor = actorOf(ctx, s.config.auth.trustProxy);

  if (mount !== undefined) {
    const digest = parseDigest(mount);
    if (from !== undefined) assertRepositoryName(from);
    // Mounting reads the source: without pull there, it is an ordinary upload (and says nothing about it).
    if (from !== undefined && (await s.core.blobs.mount(actor, repository, from, digest.value))) {
      sendBlobCreated(res, repository, digest.value);
      return;
    }
    // Not visible in `from`: the spec asks for a plain upload session instead.
  } else if (digestParam !== undefined) {
    await monolithicUpload(s, ctx, repository, parseDigest(digestParam), req, res);
    return;
  }

  await s.core.blobs.admitUpload(actor, repository);
  const id = randomUUID();
  await s.blobs.stageCreate(id);
  await s.sessions.create({
    id,
    repository,
    owner: ctx.auth?.principal.kind === 'anonymous' ? undefined : ctx.auth?.principal.id,
  });
  sendUploadStatus(res, 202, repository, id, 0);
}

async function monolithicUpload(
  s: UploadHandlerDeps,
  ctx: RequestContext,
  repository: string,
  digest: ParsedDigest,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  try {
    await commitDirect(s, ctx, repository, digest, req, Date.now());
  } catch (err) {
    if (err instanceof ClientGone) {
      res.destroy();
      return;
    }
    throw err;
  }
  sendBlobCreated(res, repository, digest.value);
}

/** PATCH /v2/<name>/blobs/uploads/<id>: a chunk (Content-Range) or the rest of the stream. */
export async function patchUpload(
  s: UploadHandlerDeps,
  repository: string,
  id: string,
  req: IncomingMessage,
  res: ServerResponse,
  ctx: RequestContext,
): Promise<void> {
  const session = await openSession(s, repository, id, ctx);
  try {
    const offset = await withLease(s, repository, session, async () => {
      const fresh = (await s.sessions.get(id)) ?? session;
      return appendBody(s, repository, fresh, req);
    });
    sendUploadStatus(res, 202, repository, id, offset);
  } catch (err) {
    if (err instanceof ClientGone) {
      res.destroy();
      return;
    }
    throw err;
  }
}

/** GET /v2/<name>/blobs/uploads/<id>: where the upload stands, so a client can resume. */
export async function getUploadStatus(
  s: UploadHandlerDeps,
  repository: string,
  id: string,
  res: ServerResponse,
  ctx: RequestContext,
): Promise<void> {
  const session = await openSession(s, repository, id, ctx);
  // While a writer holds the upload, its bytes are not yet counted: report the recorded offset.
  const token = await s.sessions.lock(id, LEASE_MS);
  let offset = session.offset;
  if (token) {
    try {
      offset = await reconcile(s, (await s.sessions.get(id)) ?? session);
    } finally {
      await s.sessions.unlock(id, token).catch(() => undefined);
    }
  }
  sendUploadStatus(res, 204, repository, id, offset);
}

/** PUT /v2/<name>/blobs/uploads/<id>?digest=: the last chunk (optional), then verify and commit. */
export async function finishUpload(
  s: UploadHandlerDeps,
  repository: string,
  id: string,
  req: IncomingMessage,
  res: ServerResponse,
  ctx: RequestContext,
): Promise<void> {
  const rawDigest = queryParam(ctx, 'digest');
  if (rawDigest === undefined) {
    throw new OciError('DIGEST_INVALID', 'the digest query parameter is required to finish an upload', { upload: id });
  }
  const digest = parseDigest(rawDigest);
  const session = await openSession(s, repository, id, ctx);
  try {
    await withLease(s, repository, session, async () => {
      const fresh = (await s.sessions.get(id)) ?? session;
      if (hasBody(req) && fresh.offset === 0 && req.headers['content-range'] === undefined) {
        // The whole blob in this one request (POST, then PUT with the body): straight to its place, as
        // a monolithic POST is. A cut body keeps nothing; the upload stays at 0 for the client to redo.
        await commitDirect(s, ctx, repository, digest, req, fresh.createdAt, id);
        return;
      }
      const size = hasBody(req) ? await appendBody(s, repository, fresh, req) : await reconcile(s, fresh);
      await commit(s, ctx, repository, digest, stagedUpload(s, id, size, digest), fresh.createdAt, 'chunked');
    });
  } catch (err) {
    if (err instanceof ClientGone) {
      res.destroy();
      return;
    }
    throw err;
  }
  sendBlobCreated(res, repository, digest.value);
}

/** DELETE /v2/<name>/blobs/uploads/<id>: cancel, and drop the staged bytes. */
export async function cancelUpload(
  s: UploadHandlerDeps,
  repository: string,
  id: string,
  res: ServerResponse,
  ctx: RequestContext,
): Promise<void> {
  await openSession(s, repository, id, ctx);
  await cancel(s, id);
  sendEmpty(res, 204);
}
