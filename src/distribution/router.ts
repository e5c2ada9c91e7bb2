import type { NextFunction, Request, Response } from 'express';
import { OciError } from '../oci/errors';
import { assertRepositoryName } from '../oci/names';
import type { Services } from './services';
import { getBase } from './base';
import { deleteBlob, getBlob } from './blobs';
import { cancelUpload, finishUpload, getUploadStatus, patchUpload, startUpload } from './uploads';
import { deleteManifest, getManifest, putManifest } from './manifests';
import { listTags } from './tags';
import { listReferrers } from './referrers';
import { listRepositories } from './repositories';

type Handler = (s: Services, m: string[], req: Request, res: Response) => Promise<void> | void;

interface Route {
  name: string;
  pattern: RegExp;
  methods: Record<string, Handler>;
}

/*
 * Repository names contain slashes, so routes are matched on the whole path, by the resource suffix.
 * The name part is greedy: `/v2/a/blobs/blobs/<d>` is the blob <d> of the repository `a/blobs`.
 * Upload routes come first because `…/blobs/uploads/` would otherwise read as a blob named "uploads".
 */
const ROUTES: Route[] = [
  { name: 'base', pattern: /^\/v2\/?$/, methods: { GET: (_s, _m, req, res) => getBase(req, res) } },
  { name: 'catalog', pattern: /^\/v2\/_catalog$/, methods: { GET: (s, _m, req, res) => listRepositories(s, req, res) } },
  {
    name: 'upload',
    pattern: /^\/v2\/(.+)\/blobs\/uploads\/?$/,
    methods: { POST: (s, m, req, res) => startUpload(s, m[0]!, req, res) },
  },
  {
    name: 'upload',
    pattern: /^\/v2\/(.+)\/blobs\/uploads\/([^/]+)$/,
    methods: {
      GET: (s, m, _req, res) => getUploadStatus(s, m[0]!, m[1]!, res),
      PATCH: (s, m, req, res) => patchUpload(s, m[0]!, m[1]!, req, res),
      PUT: (s, m, req, res) => finishUpload(s, m[0]!, m[1]!, req, res),
      DELETE: (s, m, _req, res) => cancelUpload(s, m[0]!, m[1]!, res),
    },
  },
  {
    name: 'blob',
    pattern: /^\/v2\/(.+)\/blobs\/([^/]+)$/,
    methods: {
      GET: (s, m, req, res) => getBlob(s, m[0]!, m[1]!, req, res),
      HEAD: (s, m, req, res) => getBlob(s, m[0]!, m[1]!, req, res),
      DELETE: (s, m, _req, res) => deleteBlob(s, m[0]!, m[1]!, res),
    },
  },
  {
    name: 'manifest',
    pattern: /^\/v2\/(.+)\/manifests\/([^/]+)$/,
    methods: {
      GET: (s, m, req, res) => getManifest(s, m[0]!, m[1]!, req, res),
      HEAD: (s, m, req, res) => getManifest(s, m[0]!, m[1]!, req, res),
      PUT: (s, m, req, res) => putManifest(s, m[0]!, m[1]!, req, res),
      DELETE: (s, m, _req, res) => deleteManifest(s, m[0]!, m[1]!, res),
    },
  },
  { name: 'tags', pattern: /^\/v2\/(.+)\/tags\/list$/, methods: { GET: (s, m, req, res) => listTags(s, m[0]!, req, res) } },
  {
    name: 'referrers',
    pattern: /^\/v2\/(.+)\/referrers\/([^/]+)$/,
    methods: { GET: (s, m, req, res) => listReferrers(s, m[0]!, m[1]!, req, res) },
  },
];

/** The express middleware that serves /v2/. */
export function distributionRouter(s: Services) {
  return async (req: Request, res: Response, next: NextFunction): Promise<void> => {
    const path = req.path;
    if (path !== '/v2' && !path.startsWith('/v2/')) return next();
    res.setHeader('Docker-Distribution-API-Version', 'registry/2.0');
    for (const route of ROUTES) {
      const match = route.pattern.exec(path);
      if (!match) continue;
      res.locals.route = route.name;
      const params = match.slice(1);
      const handler = route.methods[req.method];
      if (!handler) {
        throw new OciError('UNSUPPORTED', `${req.method} is not supported on this endpoint`, { allowed: Object.keys(route.methods) }, {
          headers: { Allow: Object.keys(route.methods).join(', ') },
        });
      }
      if (params.length > 0) assertRepositoryName(params[0]!);
      await handler(s, params, req, res);
      return;
    }
    res.locals.route = 'unknown';
    throw new OciError('UNSUPPORTED', 'no such endpoint', { path: path.slice(0, 300) }, { status: 404 });
  };
}
