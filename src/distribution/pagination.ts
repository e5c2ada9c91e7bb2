import type { ServerResponse } from 'node:http';
import { OciError } from '../oci/errors';
import { queryParam } from '../http/query';
import type { RequestContext } from '../http/context';
import type { Page } from '../catalog/catalog';

/** `n` and `last` of a listing; n is capped at `max` so that one request cannot ask for everything. */
export function parsePage(ctx: RequestContext, max: number): Page & { n: number } {
  const rawN = queryParam(ctx, 'n');
  const last = queryParam(ctx, 'last');
  let n = max;
  if (rawN !== undefined) {
    if (!/^\d{1,9}$/.test(rawN)) {
      throw new OciError('PAGINATION_NUMBER_INVALID', 'n must be a whole number', { n: rawN });
    }
    n = Math.min(Number(rawN), max);
  }
  return { n, ...(last !== undefined && last !== '' ? { last } : {}) };
}

/**
 * Answers a page: the caller fetched n+1 entries; send n, and when there were more, a Link header to the
 * next page in the form the spec gives: `</v2/…?n=N&last=X>; rel="next"`.
 */
export function pageOf(res: ServerResponse, path: string, n: number, entries: string[]): string[] {
  if (entries.length <= n) return entries;
  const page = entries.slice(0, n);
  const last = page[page.length - 1];
  if (last !== undefined) res.setHeader('Link', `<${path}?n=${n}&last=${encodeURIComponent(last)}>; rel="next"`);
  return page;
}
