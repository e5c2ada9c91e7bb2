import type { ServerResponse } from 'node:http';
import { parseDigest } from '../oci/digest';
import { MediaTypes } from '../oci/media-types';
import { queryParam } from '../http/query';
import type { RequestContext } from '../http/context';
import { sendJson } from '../http/respond';
import type { Services } from './services';

/**
 * GET /v2/<name>/referrers/<digest>: an image index of every manifest whose subject is the digest,
 * answered from the catalog's subject index. Also answers (empty or not) before the subject is pushed.
 */
export async function listReferrers(s: Services, repository: string, rawDigest: string, ctx: RequestContext, res: ServerResponse): Promise<void> {
  const digest = parseDigest(rawDigest);
  const artifactType = queryParam(ctx, 'artifactType');
  const manifests = await s.catalog.listReferrers(repository, digest.value, artifactType || undefined);
  if (artifactType) res.setHeader('OCI-Filters-Applied', 'artifactType');
  sendJson(res, 200, { schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests }, MediaTypes.ociIndex);
}
