import type { ServerResponse } from 'node:http';
import type { RequestContext } from '../http/context';
import { sendJson } from '../http/respond';
import { parsePage, pageOf } from './pagination';
import type { ListingDeps } from './listing-deps';

/** How many names one listing may look at to fill a page when the caller may pull few of them. */
const SCAN_LIMIT = 50_000;

/** GET /v2/_catalog with n / last pagination, showing only the repositories the caller may pull. */
export async function listRepositories(s: ListingDeps, ctx: RequestContext, res: ServerResponse): Promise<void> {
  const page = parsePage(ctx, s.config.catalog.pageSizeMax);
  const visible: string[] = [];
  let last = page.last;
  let scanned = 0;
  // Fill the page from batches, skipping what the caller may not see; n+1 entries tell whether more follow.
  while (visible.length <= page.n && scanned < SCAN_LIMIT) {
    const batch = await s.catalog.listRepositories({ n: page.n + 1, ...(last !== undefined ? { last } : {}) });
    scanned += batch.length;
    for (const name of batch) if (!ctx.auth || ctx.auth.can('pull', name)) visible.push(name);
    if (batch.length < page.n + 1) break;
    last = batch[batch.length - 1];
  }
  sendJson(res, 200, { repositories: pageOf(res, '/v2/_catalog', page.n, visible.slice(0, page.n + 1)) });
}
