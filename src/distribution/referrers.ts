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

/**
 * GET /v2/<name>/_cairn/receipts/<digest>: the registry's signed receipts of pushes of the digest, as an
 * image index of the receipt manifests (each a DSSE bundle layer), the shape the referrers API has.
 */
export async function listReceipts(
  s: ListingDeps,
  repository: string,
  rawDigest: string,
  res: ServerResponse,
): Promise<void> {
  const digest = parseDigest(rawDigest);
  const manifests = await s.catalog.listReferrers(repository, digest.value, RECEIPT_TYPE);
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
