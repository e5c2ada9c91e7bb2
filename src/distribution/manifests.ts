import type { IncomingMessage, ServerResponse } from 'node:http';
import { OciError } from '../oci/errors';
import { digestOf, parseDigest, tryParseDigest } from '../oci/digest';
import { isTag } from '../oci/names';
import { readLimitedBody } from '../http/body';
import { sendEmpty } from '../http/respond';
import { MissingReferences, type StoredManifest } from '../catalog/catalog';
import { artifactRecordFor } from '../artifacts/ingest';
import { assertArtifactQuota, assertTagMayChange, assertTagsMayGo } from './governance-checks';
import { enforceTrustOnPull } from '../signing/enforce';
import { ingestSignature, signatureOf } from '../signing/ingest';
import { issueReceipt } from '../signing/receipts';
import { parseManifest } from '../oci/manifest-parser';
import type { Services } from './services';
import type { RequestContext } from '../http/context';
import { auditChange, auditPull } from './audit-trail';

type Reference = { digest: string } | { tag: string };

/** A reference is a digest when it has an algorithm prefix, else it must be a tag (TAG_INVALID). */
function parseReference(reference: string): Reference {
  if (reference.includes(':')) return { digest: parseDigest(reference).value };
  if (!isTag(reference)) {
    throw new OciError('TAG_INVALID', 'invalid tag', {
      tag: reference.slice(0, 200),
      rule: '[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}',
    });
  }
  return { tag: reference };
}

/**
 * For reads and deletes: a name that cannot be a tag names no manifest, so it is unknown (404), as
 * Distribution and the official conformance suite have it; a malformed digest is still DIGEST_INVALID.
 */
function lookupReference(reference: string): Reference {
  if (!reference.includes(':') && !isTag(reference)) {
    throw new OciError('MANIFEST_UNKNOWN', 'manifest unknown: the reference is neither a valid tag nor a digest', {
      reference: reference.slice(0, 200),
    });
  }
  return parseReference(reference);
}

async function manifestUnknown(s: Services, repository: string, reference: string): Promise<OciError> {
  if (!(await s.catalog.repositoryExists(repository))) {
    return new OciError('NAME_UNKNOWN', 'repository name not known to registry', { repository });
  }
  return new OciError('MANIFEST_UNKNOWN', 'manifest unknown', { repository, reference });
}

/**
 * Retired artifacts are served only to those who may approve in the repository (to inspect or restore
 * them), never to ordinary readers; deprecated ones are served with a warning a client can surface.
 */
function lifecycleHeaders(
  s: Services,
  repository: string,
  m: StoredManifest,
  res: ServerResponse,
  ctx: RequestContext,
): void {
  const why = m.stageReason
    ? `: ${m.stageReason
        .replace(/[^\x20-\x7e]/g, '?')
        .replace(/"/g, "'")
        .slice(0, 200)}`
    : '';
  if (m.stage === 'retired' && !(ctx.auth?.can('approve', repository) ?? true)) {
    throw new OciError('DENIED', `${repository}@${m.digest} is retired and no longer served${why}`, {
      stage: 'retired',
      digest: m.digest,
    });
  }
  res.setHeader('Warning', `299 cairn "${m.stage}${why}"`);
  res.setHeader('Cairn-Lifecycle-Stage', m.stage!);
}

/** GET and HEAD /v2/<name>/manifests/<reference>. */
export async function getManifest(
  s: Services,
  repository: string,
  reference: string,
  req: IncomingMessage,
  res: ServerResponse,
  ctx: RequestContext,
): Promise<void> {
  lookupReference(reference);
  const m = await s.catalog.getManifest(repository, reference);
  if (!m) throw await manifestUnknown(s, repository, reference);
  if (m.stage === 'retired' || m.stage === 'deprecated') lifecycleHeaders(s, repository, m, res, ctx);
  await enforceTrustOnPull(s, repository, m, req.method, res, ctx);
  res.statusCode = 200;
  res.setHeader('Content-Type', m.mediaType);
  res.setHeader('Content-Length', String(m.size));
  res.setHeader('Docker-Content-Digest', m.digest);
  res.setHeader('ETag', `"${m.digest}"`);
  if (req.method === 'HEAD') {
    res.end();
    return;
  }
  s.metrics.bytesSent.labels('manifest').inc(m.size);
  res.end(m.content);
  auditPull(s, ctx, { repository, digest: m.digest, ...(m.digest === reference ? {} : { tag: reference }) });
}

/** PUT /v2/<name>/manifests/<reference>. */
export async function putManifest(
  s: Services,
  repository: string,
  reference: string,
  req: IncomingMessage,
  res: ServerResponse,
  ctx: RequestContext,
): Promise<void> {
  const ref = parseReference(reference);
  const content = await readLimitedBody(req, s.config.manifests.maxBytes, 'manifest');
  s.metrics.bytesReceived.labels('manifest').inc(content.length);
  const parsed = parseManifest(content, req.headers['content-type']);

  const algorithm = 'digest' in ref ? tryParseDigest(ref.digest)!.algorithm : 'sha256';
  const digest = digestOf(content, algorithm);
  if ('digest' in ref && ref.digest !== digest) {
    throw new OciError('DIGEST_INVALID', 'manifest content does not match the digest in the URL', {
      expected: ref.digest,
      actual: digest,
    });
  }
  // For the audit trail: where the tag pointed before this push moves it.
  const previous = 'tag' in ref ? (await s.catalog.getManifest(repository, ref.tag))?.digest : undefined;
  const { record } = await artifactRecordFor(s, ctx, repository, parsed);
  if ('tag' in ref) await assertTagMayChange(s, ctx, repository, ref.tag, previous, digest);
  await assertArtifactQuota(
    s,
    ctx,
    repository,
    digest,
    async () => previous !== digest && !(await s.catalog.getManifest(repository, digest)),
  );
  try {
    await s.catalog.putManifest(
      repository,
      {
        digest,
        mediaType: parsed.mediaType,
        size: content.length,
        content,
        artifactType: parsed.artifactType,
        subject: parsed.subject?.digest,
        annotations: parsed.annotations,
        blobs: parsed.blobs,
        manifests: parsed.manifests,
        artifact: record,
      },
      'tag' in ref ? ref.tag : undefined,
    );
  } catch (err) {
    if (err instanceof MissingReferences) {
      throw new OciError('MANIFEST_BLOB_UNKNOWN', 'manifest references content the repository does not have', {
        repository,
        ...(err.blobs.length ? { blobs: err.blobs } : {}),
        ...(err.manifests.length ? { manifests: err.manifests } : {}),
      });
    }
    throw err;
  }
  const seq = await auditChange(s, ctx, {
    type: 'manifest.push',
    action: 'push',
    repository,
    digest,
    ...('tag' in ref ? { tag: ref.tag } : {}),
    detail: {
      mediaType: parsed.mediaType,
      size: content.length,
      kind: record.kind,
      ...(previous && previous !== digest ? { previousDigest: previous } : {}),
      ...(parsed.subject ? { subject: parsed.subject.digest } : {}),
      ...(record.edges.length
        ? {
            lineage: record.edges
              .map((e) => `${e.relation} ${e.repository ? `${e.repository}@` : ''}${e.digest}`)
              .join(', ')
              .slice(0, 2000),
          }
        : {}),
    },
  });
  const signature = signatureOf(parsed, 'tag' in ref ? ref.tag : undefined);
  if (signature) await ingestSignature(s, ctx, repository, digest, signature);
  if (!parsed.subject && !signature) {
    // The push is committed and in the log; a receipt that cannot be issued is logged, not the client's failure.
    const receipt = await issueReceipt(
      s,
      ctx,
      {
        repository,
        digest,
        mediaType: parsed.mediaType,
        size: content.length,
        ...('tag' in ref ? { tag: ref.tag } : {}),
      },
      seq,
    ).catch((err) => {
      ctx.logger.error({ err: (err as Error).message, repository, digest }, 'receipt not issued');
      return undefined;
    });
    if (receipt) res.setHeader('Cairn-Receipt', receipt);
  }
  res.setHeader('Location', `/v2/${repository}/manifests/${digest}`);
  res.setHeader('Docker-Content-Digest', digest);
  if (parsed.subject) res.setHeader('OCI-Subject', parsed.subject.digest);
  sendEmpty(res, 201);
}

/** DELETE /v2/<name>/manifests/<reference>: by digest, the manifest and its tags; by tag, only the tag. */
export async function deleteManifest(
  s: Services,
  repository: string,
  reference: string,
  res: ServerResponse,
  ctx: RequestContext,
): Promise<void> {
  const ref = lookupReference(reference);
  const tagged = 'tag' in ref ? (await s.catalog.getManifest(repository, ref.tag))?.digest : undefined;
  if ('tag' in ref) await assertTagMayChange(s, ctx, repository, ref.tag, tagged, undefined);
  else await assertTagsMayGo(s, ctx, repository, ref.digest);
  const deleted =
    'digest' in ref
      ? await s.catalog.deleteManifest(repository, ref.digest)
      : await s.catalog.deleteTag(repository, ref.tag);
  if (!deleted) throw await manifestUnknown(s, repository, reference);
  await auditChange(
    s,
    ctx,
    'digest' in ref
      ? { type: 'manifest.delete', action: 'delete', repository, digest: ref.digest }
      : { type: 'tag.delete', action: 'delete', repository, tag: ref.tag, ...(tagged ? { digest: tagged } : {}) },
  );
  sendEmpty(res, 202);
}
