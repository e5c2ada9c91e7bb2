import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { Logger } from './logger';
import type { Metrics } from './metrics';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Gives every request an id (the caller's X-Request-Id when it is sane, so a trace spans proxies), a
 * child logger that carries it, one log line when the response ends, and its metrics.
 */
export function requestContext(logger: Logger, metrics: Metrics) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const given = req.headers['x-request-id'];
    const id = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    res.setHeader('X-Request-Id', id);
    const log = logger.child({ reqId: id });
    res.locals.log = log;
    const started = process.hrtime.bigint();
    const done = () => {
      res.removeListener('finish', done);
      res.removeListener('close', done);
      const route: string = res.locals.route ?? 'other';
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const status = res.writableFinished ? res.statusCode : 499;
      metrics.requests.labels(route, req.method, String(status)).inc();
      metrics.requestDuration.labels(route, req.method).observe(seconds);
      if (log.isLevelEnabled('info')) {
        log.info({ method: req.method, url: req.originalUrl, status, ms: Math.round(seconds * 1000), route }, 'request');
      }
    };
    res.on('finish', done);
    res.on('close', done);
    next();
  };
}
