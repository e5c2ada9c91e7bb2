import type { NextFunction, Request, Response } from 'express';
import { OciError } from '../oci/errors';
import type { Logger } from './logger';

/**
 * Turns every error into the OCI error body. Anything that is not an OciError is our fault: it is logged
 * with its stack and the client gets a 500 that says nothing about internals.
 */
export function errorHandler(logger: Logger) {
  return (err: unknown, req: Request, res: Response, _next: NextFunction): void => {
    const log: Logger = res.locals.log ?? logger;
    let oci: OciError;
    if (err instanceof OciError) {
      oci = err;
    } else if (isBodyError(err)) {
      oci = new OciError('BLOB_UPLOAD_INVALID', 'malformed request body', { reason: (err as Error).message });
    } else {
      log.error({ err, method: req.method, url: req.originalUrl }, 'unhandled error');
      oci = new OciError('UNSUPPORTED', 'internal server error', undefined, { status: 500 });
    }
    if (res.headersSent) {
      res.destroy();
      return;
    }
    res.status(oci.status);
    for (const [k, v] of Object.entries(oci.headers)) res.setHeader(k, v);
    // An error answer never carries blob headers set before the failure.
    res.removeHeader('Docker-Content-Digest');
    res.removeHeader('Content-Length');
    res.setHeader('Content-Type', 'application/json');
    const body = JSON.stringify({ errors: [oci.toJSON()] });
    res.end(req.method === 'HEAD' ? undefined : body);
    // A body the handler refused to read (too large, or an error before reading) must not be parsed as
    // the next request on this connection; closing is cheaper than draining an unbounded body.
    if (!req.complete) res.once('finish', () => req.socket.destroySoon?.());
  };
}

function isBodyError(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { type?: string }).type === 'entity.parse.failed';
}
