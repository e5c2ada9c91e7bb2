import type { ServerResponse } from 'node:http';
import { OciError } from '../../oci/errors';
import { sendJson } from '../../http/respond';

/** A pull-through cache, as the prefetch endpoint uses it (src/proxy/pull-through.ts). */
export interface Prefetcher {
  covers(repository: string): boolean;
  prefetch(repository: string, reference: string): Promise<{ digest: string; blobs: number; bytes: number }>;
}

/**
 * POST /v2/<name>/_cairn/prefetch/<reference>: a pull-through cache fetches the whole artifact (manifest,
 * every layer, child manifests, signatures) now, so that the first pull after a promotion is served
 * locally. The upstream's replication sends it when an artifact is promoted (docs/replication.md).
 */
export async function prefetch(
  s: { pullThrough?: Prefetcher | undefined },
  repository: string,
  reference: string,
  res: ServerResponse,
): Promise<void> {
  if (!s.pullThrough?.covers(repository))
    throw new OciError('NAME_UNKNOWN', 'not a repository of a pull-through cache here', { repository });
  sendJson(res, 200, { repository, ...(await s.pullThrough.prefetch(repository, decodeURIComponent(reference))) });
}
