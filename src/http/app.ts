import express, { type Express } from 'express';
import type { Services } from '../distribution/services';
import { distributionRouter } from '../distribution/router';
import { OciError } from '../oci/errors';
import { requestContext } from './request-context';
import { errorHandler } from './error-handler';

export interface Probes {
  /** Readiness: every backend answers. */
  ready(): Promise<{ ok: boolean; checks: Record<string, string> }>;
}

/** The express app: request context, health and metrics endpoints, the OCI API, and the error model. */
export function createApp(s: Services, probes: Probes): Express {
  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('query parser', 'simple');
  app.use(requestContext(s.logger, s.metrics));
  app.get('/healthz', (_req, res) => {
    res.locals.route = 'health';
    res.json({ status: 'ok' });
  });
  app.get('/readyz', async (_req, res) => {
    res.locals.route = 'health';
    const r = await probes.ready();
    res.status(r.ok ? 200 : 503).json({ status: r.ok ? 'ready' : 'not ready', checks: r.checks });
  });
  app.get('/metrics', async (_req, res) => {
    res.locals.route = 'metrics';
    res.setHeader('Content-Type', s.metrics.registry.contentType);
    res.end(await s.metrics.registry.metrics());
  });
  app.use(distributionRouter(s));
  app.use((_req, res) => {
    res.locals.route = 'unknown';
    throw new OciError('UNSUPPORTED', 'no such endpoint', undefined, { status: 404 });
  });
  app.use(errorHandler(s.logger));
  return app;
}
