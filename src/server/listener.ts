import type { IncomingMessage, ServerResponse } from 'node:http';
import express from 'express';
import { dispatch, isDistributionPath } from '../distribution/router';
import { V2_ROUTES, type V2Deps } from './routes';
import { OciError } from '../oci/errors';
import { beginRequest, type RequestContext } from '../http/context';
import { sendError, sendJson } from '../http/respond';
import type { AuthRuntime } from '../http/auth-runtime';
import { tokenEndpoint } from '../http/token-endpoint';
import { accountEndpoints } from '../http/account';
import { adminApi } from '../http/admin-api';
import { auditApi } from '../http/audit-api';
import { replicationApi } from '../http/replication-api';
import { witnessApi } from '../http/witness-api';
import { regionApi } from '../http/region-api';
import { consoleAssets } from '../http/console-assets';
import { CONSOLE_DOWNLOAD, consoleDownload, consoleSession, consoleWithoutAuth } from '../http/console-session';
import { consoleSso } from '../http/console-sso';

export interface Probes {
  /** Readiness: every backend answers. */
  ready(): Promise<{ ok: boolean; checks: Record<string, string> }>;
}

type Listener = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * The request listener. The OCI API (/v2/…) is dispatched by our own router on Node's request and
 * response objects; Express serves everything else (health, readiness, metrics, and the admin and token
 * endpoints to come). Express's per-request work costs more than the whole manifest GET it would wrap
 * (measured here: a bare Node handler 42,000 requests/s, the same handler behind Express 5 9,000/s), and
 * the registry's hot paths must stay free of it. Both paths share the request context and error model.
 */
export function createRequestListener(
  s: V2Deps & {
    replication?: { status(): Promise<unknown[]> } | undefined;
    witness?: Parameters<typeof witnessApi>[1];
    regionIngest?: Parameters<typeof regionApi>[0];
  },
  probes: Probes,
  auth?: AuthRuntime,
): Listener {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('query parser', 'simple');
  const ctxOf = (res: ServerResponse): RequestContext => (res as ServerResponse & { cairn: RequestContext }).cairn;

  app.get('/healthz', (_req, res) => {
    ctxOf(res).route = 'health';
    sendJson(res, 200, { status: 'ok' });
  });
  app.get('/readyz', async (_req, res) => {
    ctxOf(res).route = 'health';
    const r = await probes.ready();
    sendJson(res, r.ok ? 200 : 503, { status: r.ok ? 'ready' : 'not ready', checks: r.checks });
  });
  app.get('/metrics', async (_req, res) => {
    ctxOf(res).route = 'metrics';
    const text = await s.metrics.registry.metrics();
    res.setHeader('Content-Type', s.metrics.registry.contentType);
    res.end(text);
  });
  app.use('/audit', (_req, res, next) => {
    ctxOf(res).route = 'audit';
    next();
  });
  app.use(auditApi(s.audit, s.gate, ctxOf));
  app.use('/witness', (_req, res, next) => {
    ctxOf(res).route = 'witness';
    next();
  });
  app.use(witnessApi(s.audit, s.witness));
  app.use(regionApi(s.regionIngest));
  const replication = s.replication;
  app.use(replicationApi(async () => (replication ? replication.status() : []), s.gate, ctxOf));
  if (auth) {
    app.use(['/token', '/auth', '/admin'], (_req, res, next) => {
      ctxOf(res).route = 'auth';
      next();
    });
    app.use(tokenEndpoint(auth, s.config, s.metrics, s.logger, s.audit));
    app.use(accountEndpoints(auth, s.metrics, s.logger, s.config.auth.trustProxy, s.audit));
    app.use(adminApi(auth, s.gate, ctxOf, s.logger, s.config.auth, s.audit));
  }
  app.use((req, res, next) => {
    if (req.path === '/' || req.path === '/ui' || req.path.startsWith('/ui/')) ctxOf(res).route = 'console';
    next();
  });
  if (!auth) app.use(consoleWithoutAuth());
  if (auth) {
    app.use(consoleSession(auth, s.config, s.metrics, s.logger, s.audit));
    app.use(consoleSso(auth.sso, { auth, config: s.config, metrics: s.metrics, logger: s.logger, audit: s.audit }));
  }
  app.use(consoleAssets());
  app.use(() => {
    throw new OciError('NOT_FOUND', 'no such endpoint', undefined);
  });
  app.use((err: unknown, req: express.Request, res: express.Response, _next: express.NextFunction) => {
    // Body parsers (JSON, forms) fail with a 4xx status of their own: the client's fault, said as such.
    const status = (err as { status?: number; type?: string }).status;
    if (
      !(err instanceof OciError) &&
      typeof status === 'number' &&
      status >= 400 &&
      status < 500 &&
      (err as { type?: string }).type
    ) {
      err = new OciError('PARAMETER_INVALID', `malformed request body: ${(err as Error).message}`, undefined, {
        status: status === 413 || status === 415 ? status : 400,
      });
    }
    sendError(err, req, res, ctxOf(res));
  });

  const download = async (req: IncomingMessage, res: ServerResponse, ctx: RequestContext, m: RegExpExecArray) => {
    ctx.route = 'console-download';
    if (req.method !== 'GET' && req.method !== 'HEAD') throw new OciError('UNSUPPORTED', 'GET a download', undefined);
    ctx.path = await consoleDownload(
      auth,
      s.config,
      s.metrics,
      s.logger,
      req,
      res,
      m[1]!,
      m[2]!,
      ctx.query.get('name'),
    );
    ctx.query = new URLSearchParams();
    await dispatch(V2_ROUTES, s, req, res, ctx);
  };

  return (req, res) => {
    const ctx = beginRequest(req, res, s.logger, s.metrics);
    const m = CONSOLE_DOWNLOAD.exec(ctx.path);
    if (m) {
      download(req, res, ctx, m).catch((err) => {
        // A refusal is an error body, not the file.
        if (!res.headersSent) res.removeHeader('Content-Disposition');
        sendError(err, req, res, ctx);
      });
      return;
    }
    if (isDistributionPath(ctx.path)) {
      dispatch(V2_ROUTES, s, req, res, ctx).catch((err) => sendError(err, req, res, ctx));
      return;
    }
    (res as ServerResponse & { cairn: RequestContext }).cairn = ctx;
    app(req, res);
  };
}
