import type { Request, Response } from 'express';
import { parseDigest } from '../oci/digest';
import { MediaTypes } from '../oci/media-types';
import { queryParam } from '../http/query';
import type { Services } from './services';

/**
 * GET /v2/<name>/referrers/<digest>: an image index of every manifest whose subject is the digest,
 * answered from the catalog's subject index. Also answers (empty or not) before the subject is pushed.
 */
export async function listReferrers(s: Services, repository: string, rawDigest: string, req: Request, res: Response): Promise<void> {
  const digest = parseDigest(rawDigest);
  const artifactType = queryParam(req, 'artifactType');
  const manifests = await s.catalog.listReferrers(repository, digest.value, artifactType || undefined);
  if (artifactType) res.setHeader('OCI-Filters-Applied', 'artifactType');
  res.status(200);
  res.setHeader('Content-Type', MediaTypes.ociIndex);
  res.end(JSON.stringify({ schemaVersion: 2, mediaType: MediaTypes.ociIndex, manifests }));
}
