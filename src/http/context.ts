import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from '../observability/logger';
import type { Metrics } from '../observability/metrics';
import type { AuthState } from './auth-state';

/** What the HTTP layer knows about one request, handed to every handler. */
export interface RequestContext {
  id: string;
  /** The request itself, for what the audit trail records about it (source, user agent). */
  req: IncomingMessage;
  /** The URL path, undecoded. */
  path: string;
  query: URLSearchParams;
  logger: Logger;
  /** The route label for metrics and logs, set by the router. */
  route: string;
  /** Who the request acts as and what it may do, once the access gate let it in. */
  auth?: AuthState;
  /** The authorization decisions taken for this request, carried on its log line. */
  decisions?: { action: string; resource: string; allowed: boolean; policies: string[] }[];
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Opens a request: an id (the caller's X-Request-Id when it is sane, so a trace spans proxies), and on
 * completion its metrics and one log line carrying the id. No per-request logger is built: the id rides
 * on the log line, which keeps this cheap on the hot path.
 */
export function beginRequest(
  req: IncomingMessage,
  res: ServerResponse,
  logger: Logger,
  metrics: Metrics,
): RequestContext {
  const given = req.headers['x-request-id'];
  const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
  res.setHeader('X-Request-Id', id);
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const ctx: RequestContext = {
    id,
    req,
    path: q === -1 ? url : url.slice(0, q),
    query: new URLSearchParams(q === -1 ? '' : url.slice(q + 1)),
    logger,
    route: 'other',
  };
  const started = process.hrtime.bigint();
  let ended = false;
  const done = () => {
    if (ended) return;
    ended = true;
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const status = res.writableFinished ? res.statusCode : 499;
    metrics.requests.labels(ctx.route, req.method ?? '', String(status)).inc();
    metrics.requestDuration.labels(ctx.route, req.method ?? '').observe(seconds);
    if (logger.isLevelEnabled('info')) {
      logger.info(
        {
          reqId: id,
          method: req.method,
          url,
          status,
          ms: Math.round(seconds * 1000),
          route: ctx.route,
          principal: ctx.auth?.principal.id,
          decisions: ctx.decisions,
        },
        'request',
      );
    }
  };
  res.once('finish', done);
  res.once('close', done);
  return ctx;
}
