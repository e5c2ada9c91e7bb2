import express from 'express';
import type { RegionIngest } from '../audit/region-ingest';
import { REGION_SIGNATURE_HEADER } from '../audit/region-spool';
import { OciError } from '../oci/errors';

/**
 * `POST /audit/regions/ingest`: a read-only region's audit records, in a batch signed with the region's
 * audit key (audit.regions names the keys), taken into this primary's log. Public like the witness
 * endpoint: the signature is the authentication.
 */
export function regionApi(ingest: RegionIngest | undefined): express.Router {
  const router = express.Router();
  router.post('/audit/regions/ingest', express.raw({ type: () => true, limit: '8mb' }), async (req, res) => {
    if (!ingest) throw new OciError('NOT_FOUND', 'this registry takes in no region (audit.regions)', undefined);
    const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const answer = await ingest.ingest(raw, req.get(REGION_SIGNATURE_HEADER));
    res.status(answer.status).json(answer.body);
  });
  return router;
}
