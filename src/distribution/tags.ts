import type { ServerResponse } from 'node:http';
import { OciError } from '../oci/errors';
import type { RequestContext } from '../http/context';
import { sendJson } from '../http/respond';
import { parsePage, pageOf } from './pagination';
import type { ListingDeps } from './listing-deps';

/** GET /v2/<name>/tags/list with n / last pagination. */
export async function listTags(
  s: ListingDeps,
  repository: string,
  ctx: RequestContext,
  res: ServerResponse,
): Promise<void> {
  const page = parsePage(ctx, s.config.catalog.pageSizeMax);
  const tags = await s.catalog.listTags(repository, { n: page.n + 1, last: page.last });
  if (tags.length === 0 && !(await s.catalog.repositoryExists(repository))) {
    throw new OciError('NAME_UNKNOWN', 'repository name not known to registry', { repository });
  }
  sendJson(res, 200, { name: repository, tags: pageOf(res, `/v2/${repository}/tags/list`, page.n, tags) });
}
