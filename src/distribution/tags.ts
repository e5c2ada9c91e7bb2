import type { Request, Response } from 'express';
import { OciError } from '../oci/errors';
import { parsePage, sendPage } from './pagination';
import type { Services } from './services';

/** GET /v2/<name>/tags/list with n / last pagination. */
export async function listTags(s: Services, repository: string, req: Request, res: Response): Promise<void> {
  const page = parsePage(req, s.config.catalog.pageSizeMax);
  const tags = await s.catalog.listTags(repository, { n: page.n + 1, last: page.last });
  if (tags.length === 0 && !(await s.catalog.repositoryExists(repository))) {
    throw new OciError('NAME_UNKNOWN', 'repository name not known to registry', { repository });
  }
  const shown = sendPage(res, `/v2/${repository}/tags/list`, page.n, tags);
  res.status(200).json({ name: repository, tags: shown });
}
