import { inRepository } from '../storage/route-context';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { OciError } from '../oci/errors';
import { assertRepositoryName } from '../oci/names';
import type { RequestContext } from '../http/context';
import type { AccessGate, Requirement } from '../http/access-gate';
import type { ListingDeps } from './listing-deps';
import { getBase } from './base';
import { deleteBlob, getBlob, type BlobHandlerDeps } from './blobs';
import {
  cancelUpload,
  finishUpload,
  getUploadStatus,
  patchUpload,
  startUpload,
  type UploadHandlerDeps,
} from './uploads';
import { deleteManifest, getManifest, putManifest, type ManifestHandlerDeps } from './manifests';
import { listTags } from './tags';
import { listReferrers } from './referrers';
import { queryParam } from '../http/query';
import { listRepositories } from './repositories';
import { repo } from './requirements';

/** What the routes' handlers use together: each handler module declares its own part. */
export type DistributionDeps = ManifestHandlerDeps &
  BlobHandlerDeps &
  UploadHandlerDeps &
  ListingDeps & { gate: AccessGate };

export type Handler<D = DistributionDeps> = (
  s: D,
  p: string[],
  req: IncomingMessage,
  res: ServerResponse,
  ctx: RequestContext,
) => Promise<void> | void;

export interface Route<D = DistributionDeps> {
  name: string;
  pattern: RegExp;
  methods: Record<string, Handler<D>>;
  /** What the access gate must establish before a method's handler runs. */
  needs: (method: string, p: string[], ctx: RequestContext) => Requirement;
}

/*
 * Repository names contain slashes, so routes are matched on the whole path, by the resource suffix.
 * The name part is greedy: `/v2/a/blobs/blobs/<d>` is the blob <d> of the repository `a/blobs`.
 * Upload routes come first because `…/blobs/uploads/` would otherwise read as a blob named "uploads".
 */
export const OCI_ROUTES: Route[] = [
  {
    name: 'base',
    pattern: /^\/v2\/?$/,
    needs: () => ({ kind: 'base' }),
    methods: { GET: (_s, _p, _req, res) => getBase(res), HEAD: (_s, _p, _req, res) => getBase(res) },
  },
  {
    name: 'catalog',
    pattern: /^\/v2\/_catalog$/,
    needs: () => ({ kind: 'catalog' }),
    methods: { GET: (s, _p, _req, res, ctx) => listRepositories(s, ctx, res) },
  },
  {
    name: 'upload',
    pattern: /^\/v2\/(.+)\/blobs\/uploads\/?$/,
    // A mount reads its source: the challenge names the source's pull too, so the client's token covers it.
    needs: (m, p, ctx) => {
      const from = queryParam(ctx, 'mount') !== undefined ? queryParam(ctx, 'from') : undefined;
      return { ...repo(['push'])(m, p), ...(from ? { mountFrom: from } : {}) };
    },
    methods: { POST: (s, p, req, res, ctx) => startUpload(s, p[0]!, req, res, ctx) },
  },
  {
    name: 'upload',
    pattern: /^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/,
    needs: repo(['push'], true),
    methods: {
      GET: (s, p, _req, res, ctx) => getUploadStatus(s, p[0]!, p[1]!, res, ctx),
      PATCH: (s, p, req, res, ctx) => patchUpload(s, p[0]!, p[1]!, req, res, ctx),
      PUT: (s, p, req, res, ctx) => finishUpload(s, p[0]!, p[1]!, req, res, ctx),
      DELETE: (s, p, _req, res, ctx) => cancelUpload(s, p[0]!, p[1]!, res, ctx),
    },
  },
  {
    name: 'blob',
    pattern: /^\/v2\/(.+)\/blobs\/([^/]+)$/,
    needs: (m, p) => repo(m === 'DELETE' ? ['delete'] : ['pull'])(m, p),
    methods: {
      GET: (s, p, req, res, ctx) => getBlob(s, p[0]!, p[1]!, req, res, ctx),
      HEAD: (s, p, req, res, ctx) => getBlob(s, p[0]!, p[1]!, req, res, ctx),
      DELETE: (s, p, _req, res, ctx) => deleteBlob(s, p[0]!, p[1]!, res, ctx),
    },
  },
  {
    name: 'manifest',
    pattern: /^\/v2\/(.+)\/manifests\/([^/]+)$/,
    // Pushing by tag also creates or moves the tag (a digest reference has a colon, a tag never).
    needs: (m, p) =>
      repo(m === 'PUT' ? (p[1]!.includes(':') ? ['push'] : ['push', 'tag']) : m === 'DELETE' ? ['delete'] : ['pull'])(
        m,
        p,
      ),
    methods: {
      GET: (s, p, req, res, ctx) => getManifest(s, p[0]!, p[1]!, req, res, ctx),
      HEAD: (s, p, req, res, ctx) => getManifest(s, p[0]!, p[1]!, req, res, ctx),
      PUT: (s, p, req, res, ctx) => putManifest(s, p[0]!, p[1]!, req, res, ctx),
      DELETE: (s, p, _req, res, ctx) => deleteManifest(s, p[0]!, p[1]!, res, ctx),
    },
  },
  {
    name: 'tags',
    pattern: /^\/v2\/(.+)\/tags\/list$/,
    needs: repo(['pull']),
    methods: { GET: (s, p, _req, res, ctx) => listTags(s, p[0]!, ctx, res) },
  },
  {
    name: 'referrers',
    pattern: /^\/v2\/(.+)\/referrers\/([^/]+)$/,
    needs: repo(['pull']),
    methods: { GET: (s, p, _req, res, ctx) => listReferrers(s, p[0]!, p[1]!, ctx, res) },
  },
];

export function isDistributionPath(path: string): boolean {
  return path === '/v2' || path.startsWith('/v2/');
}

/** Serves one /v2/ request from `routes` (the first whose pattern matches); throws OciError for the caller to answer. */
export async function dispatch<D extends { gate: Pick<AccessGate, 'enter'> }>(
  routes: Route<D>[],
  s: D,
  req: IncomingMessage,
  res: ServerResponse,
  ctx: RequestContext,
): Promise<void> {
  res.setHeader('Docker-Distribution-API-Version', 'registry/2.0');
  for (const route of routes) {
    const match = route.pattern.exec(ctx.path);
    if (!match) continue;
    ctx.route = route.name;
    const params = match.slice(1);
    const handler = route.methods[req.method ?? ''];
    if (!handler) {
      throw new OciError(
        'UNSUPPORTED',
        `${req.method} is not supported on this endpoint`,
        { allowed: Object.keys(route.methods) },
        {
          headers: { Allow: Object.keys(route.methods).join(', ') },
        },
      );
    }
    if (params.length > 0) assertRepositoryName(params[0]!);
    await s.gate.enter(req, ctx, route.needs(req.method!, params, ctx));
    // The repository is in scope for everything the handler does: storage routes place its blobs by it.
    if (params.length > 0) await inRepository(params[0]!, () => handler(s, params, req, res, ctx));
    else await handler(s, params, req, res, ctx);
    return;
  }
  ctx.route = 'unknown';
  throw new OciError('NOT_FOUND', 'no such endpoint', { path: ctx.path.slice(0, 300) });
}
