import type { ServerResponse } from 'node:http';
import type { RequestContext } from '../http/context';
import { sendJson } from '../http/respond';
import { parsePage, pageOf } from './pagination';
import type { Services } from './services';

/** GET /v2/_catalog with n / last pagination. */
export async function listRepositories(s: Services, ctx: RequestContext, res: ServerResponse): Promise<void> {
  const page = parsePage(ctx, s.config.catalog.pageSizeMax);
  const names = await s.catalog.listRepositories({ n: page.n + 1, last: page.last });
  sendJson(res, 200, { repositories: pageOf(res, '/v2/_catalog', page.n, names) });
}
