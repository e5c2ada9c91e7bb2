import type { ServerResponse } from 'node:http';
import { OciError } from '../../oci/errors';
import { sendJson } from '../../http/respond';
import type { ArtifactApiDeps } from './deps';
import { quotaFor } from '../../policy/governance';
import { listSchemas, schemaFile } from '../schemas';

/** GET /v2/_cairn/schemas: the JSON Schemas configs are validated against on push. */
export function getSchemas(res: ServerResponse): void {
  sendJson(res, 200, {
    schemas: listSchemas().map((x) => ({ mediaType: x.mediaType, url: `/v2/_cairn/schemas/${x.schema}` })),
  });
}

export function getSchema(name: string, res: ServerResponse): void {
  const text = schemaFile(name);
  if (!text) throw new OciError('NOT_FOUND', 'no such schema', { schema: name.slice(0, 100) });
  res.statusCode = 200;
  res.setHeader('Content-Type', 'application/schema+json');
  res.end(text);
}

async function quotaView(s: ArtifactApiDeps, q: { namespace: string; maxBytes?: number; maxArtifacts?: number }) {
  const used = await s.artifacts.usage(q.namespace);
  return {
    namespace: q.namespace,
    maxBytes: q.maxBytes ?? null,
    usedBytes: used.bytes,
    maxArtifacts: q.maxArtifacts ?? null,
    usedArtifacts: used.artifacts,
  };
}

/** GET /v2/_cairn/quotas: every namespace quota with its usage. */
export async function getQuotas(s: ArtifactApiDeps, res: ServerResponse): Promise<void> {
  const quotas = [];
  for (const q of s.governance.current().quotas) quotas.push(await quotaView(s, q));
  sendJson(res, 200, { quotas });
}

/** GET /v2/<name>/_cairn/quota: the quota that applies to a repository, with its namespace's usage. */
export async function getRepositoryQuota(s: ArtifactApiDeps, repository: string, res: ServerResponse): Promise<void> {
  const q = quotaFor(s.governance.current(), repository);
  sendJson(res, 200, { repository, quota: q ? await quotaView(s, q) : null });
}

/** GET /v2/_cairn/receipts/key: the public key receipts (and audit checkpoints) are signed with, PEM. */
export function getReceiptKey(s: ArtifactApiDeps, res: ServerResponse): void {
  const key = s.audit.signingKey;
  if (!key) throw new OciError('NOT_FOUND', 'this registry signs no receipts (no audit signing key)', undefined);
  res.statusCode = 200;
  res.setHeader('Content-Type', 'application/x-pem-file');
  res.end(key.publicKey.export({ format: 'pem', type: 'spki' }));
}
