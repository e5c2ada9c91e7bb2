import type { ServerResponse } from 'node:http';
import { OciError } from '../../oci/errors';
import { tryParseDigest } from '../../oci/digest';
import { sendJson } from '../../http/respond';
import type { RequestContext } from '../../http/context';
import type { ArtifactApiDeps } from './deps';
import type { SearchQuery } from '../../catalog/artifact-index';
import { STAGES } from '../../policy/governance';
import { canPull, describeArtifact, intParam } from './resolve';

const bad = (message: string, detail?: unknown) => new OciError('PARAMETER_INVALID', message, detail);
const METRIC = /^([A-Za-z0-9_.:/-]{1,64})(>=|<=|=|>|<)(-?\d+(\.\d+)?([eE][-+]?\d+)?)$/;

/** The query string of a search, validated: every filter maps onto an index. */
export function parseSearch(ctx: RequestContext, pageMax: number): SearchQuery {
  const q = ctx.query;
  const one = (k: string) => {
    const v = q.get(k);
    if (v !== null && v.length > 256) throw bad(`${k} is too long`);
    return v === null || v === '' ? undefined : v;
  };
  const stage = one('stage');
  if (stage && !(STAGES as readonly string[]).includes(stage))
    throw bad(`stage must be one of ${STAGES.join(', ')}`, { stage });
  const references = one('references');
  if (references && !tryParseDigest(references)) throw bad('references must be a digest', { references });
  const compromised = one('compromised');
  if (compromised && compromised !== 'true' && compromised !== 'false') throw bad('compromised must be true or false');
  const after = one('last');
  if (after !== undefined && !/^\d{1,15}$/.test(after)) throw bad('last must be the cursor of a previous page');
  const annotations = q
    .getAll('annotation')
    .slice(0, 10)
    .map((a) => {
      const i = a.indexOf('=');
      return i === -1 ? { key: a } : { key: a.slice(0, i), value: a.slice(i + 1) };
    });
  const metrics = q
    .getAll('metric')
    .slice(0, 10)
    .map((m) => {
      const x = METRIC.exec(m.replace(/\s+/g, ''));
      if (!x) throw bad('metric filters look like accuracy>=0.9 (operators >= <= > < =)', { metric: m.slice(0, 100) });
      return { name: x[1]!, op: x[2] as '>=' | '<=' | '>' | '<' | '=', value: Number(x[3]) };
    });
  return {
    ...(one('q') ? { text: one('q')! } : {}),
    ...(one('kind') ? { kind: one('kind')! } : {}),
    ...(one('family') ? { family: one('family')! } : {}),
    ...(one('framework') ? { framework: one('framework')! } : {}),
    ...(one('license') ? { license: one('license')! } : {}),
    ...(stage ? { stage } : {}),
    ...(one('repository') ? { repository: one('repository')! } : {}),
    ...(annotations.length ? { annotations } : {}),
    ...(metrics.length ? { metrics } : {}),
    ...(references ? { references } : {}),
    ...(compromised ? { compromised: compromised === 'true' } : {}),
    ...(after !== undefined ? { after: Number(after) } : {}),
    limit: intParam(ctx, 'n', Math.min(100, pageMax), pageMax),
  };
}

/**
 * GET /v2/_cairn/search: artifacts by name, kind, family, framework, licence, stage, annotations,
 * metrics and lineage, a page at a time (`n`, and `last` from the Link header). Only artifacts in
 * repositories the caller may pull are returned.
 */
export async function search(s: ArtifactApiDeps, ctx: RequestContext, res: ServerResponse): Promise<void> {
  const query = parseSearch(ctx, s.config.catalog.pageSizeMax);
  const results = [];
  let after = query.after;
  let more = false;
  // Results the caller may not see are skipped; a few rounds fill the page without an unbounded scan.
  for (let round = 0; round < 5 && results.length < query.limit; round++) {
    const rows = await s.artifacts.search({
      ...query,
      ...(after !== undefined ? { after } : {}),
      limit: query.limit + 1,
    });
    more = rows.length > query.limit;
    for (const r of rows.slice(0, query.limit)) {
      after = r.id;
      if (!canPull(ctx, r.repository)) continue;
      results.push(r);
      if (results.length === query.limit) break;
    }
    if (!more) break;
  }
  const last = results.length ? results[results.length - 1]!.id : after;
  if (more && last !== undefined) {
    const next = new URLSearchParams(ctx.query);
    next.set('last', String(last));
    next.set('n', String(query.limit));
    res.setHeader('Link', `</v2/_cairn/search?${next.toString()}>; rel="next"`);
  }
  sendJson(res, 200, {
    artifacts: results.map((r) =>
      describeArtifact(r, { cursor: r.id, metrics: (r.metadata as { metrics?: unknown }).metrics ?? {} }),
    ),
    ...(more && last !== undefined ? { next: String(last) } : {}),
  });
}
