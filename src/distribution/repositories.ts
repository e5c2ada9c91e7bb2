import type { Request, Response } from 'express';
import { parsePage, sendPage } from './pagination';
import type { Services } from './services';

/** GET /v2/_catalog with n / last pagination. */
export async function listRepositories(s: Services, req: Request, res: Response): Promise<void> {
  const page = parsePage(req, s.config.catalog.pageSizeMax);
  const names = await s.catalog.listRepositories({ n: page.n + 1, last: page.last });
  res.status(200).json({ repositories: sendPage(res, '/v2/_catalog', page.n, names) });
}
