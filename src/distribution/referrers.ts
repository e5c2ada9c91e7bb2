import { OciError } from '../oci/errors';
import type { ServerResponse } from 'node:http';
import { parseDigest } from '../oci/digest';
import { MediaTypes } from '../oci/media-types';
import { queryParam } from '../http/query';
import type { RequestContext } from '../http/context';
import { sendJson } from '../http/respond';
import type { ListingDeps } from './listing-deps';
import { RECEIPT_TYPE } from '../signing/receipts';

/**
 * GET /v2/<name>/referrers/<digest>: an image index of every manifest whose subject is the digest,
 * answered from the catalog's subject index. Also answers (empty or not) before the subject is pushed.
 */
export async function listReferrers(
  s: ListingDeps,
  repository: string,
  rawDigest: string,
  ctx: RequestContext,
  res: ServerResponse,
): Promise<void> {
  const digest = parseDigest(rawDigest);
  const artifactType = queryParam(ctx, 'artifactType');
  let manifests = await s.catalog.listReferrers(repository, digest.value, artifactType || undefined);
  // The registry's own receipts are served from /_cairn/receipts/: this list is what clients pushed.
  if (!s.config.audit.receiptsAsReferrers) manifests = manifests.filter((m) => m.artifactType !== RECEIPT_TYPE);
  if (artifactType) res.setHeader('OCI-Filters-Applied', 'artifactType');
  sendJson(res, 200, { schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests }, MediaTypes.ociIndex);
}

function waitSeconds(ctx: RequestContext): number {
  const raw = queryParam(ctx, 'wait');
  if (raw === undefined) return 0;
  const n = Number(raw);
  if (!/^\d{1,3}$/.test(raw) || n > 60)
    throw new OciError('PARAMETER_INVALID', 'wait must be a whole number of seconds, at most 60', {
      wait: raw.slice(0, 20),
    });
  return n;
}

/**
 * GET /v2/<name>/_cairn/receipts/<digest>: the registry's signed receipts of pushes of the digest, as an
 * image index of the receipt manifests (each a DSSE bundle layer), the shape the referrers API has.
 */
export async function listReceipts(
  s: ListingDeps,
  repository: string,
  rawDigest: string,
  res: ServerResponse,
  ctx: RequestContext,
): Promise<void> {
  const digest = parseDigest(rawDigest);
  const wait = waitSeconds(ctx);
  const deadline = Date.now() + wait * 1000;
  let manifests = await s.catalog.listReferrers(repository, digest.value, RECEIPT_TYPE);
  // Receipts are issued in the background, moments after the push: `?wait=` holds the answer until one is.
  while (manifests.length === 0 && Date.now() < deadline && !res.destroyed) {
    await new Promise((r) => setTimeout(r, 100));
    manifests = await s.catalog.listReferrers(repository, digest.value, RECEIPT_TYPE);
  }
  sendJson(
    res,
    200,
    {
      schemaVersion: 2,
      mediaType: MediaTypes.ociIndex,
      manifests: manifests.filter((m) => m.artifactType === RECEIPT_TYPE),
    },
    MediaTypes.ociIndex,
  );
}
