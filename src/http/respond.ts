import type { IncomingMessage, ServerResponse } from 'node:http';
import { OciError } from '../oci/errors';
import type { RequestContext } from './context';

export function sendJson(res: ServerResponse, status: number, body: unknown, contentType = 'application/json'): void {
  const text = JSON.stringify(body);
  res.statusCode = status;
  res.setHeader('Content-Type', contentType);
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.end(text);
}

/** An empty answer with a status (202, 204, 201 with headers set before). */
export function sendEmpty(res: ServerResponse, status: number): void {
  res.statusCode = status;
  if (status !== 204) res.setHeader('Content-Length', '0');
  res.end();
}

/**
 * Answers an error as the OCI error body. Anything that is not an OciError is our fault: it is logged with
 * its stack, and the client gets a 500 that says nothing about internals.
 */
export function sendError(err: unknown, req: IncomingMessage, res: ServerResponse, ctx: RequestContext): void {
  let oci: OciError;
  if (err instanceof OciError) {
    oci = err;
  } else {
    ctx.logger.error({ err, reqId: ctx.id, method: req.method, url: req.url }, 'unhandled error');
    oci = new OciError('UNSUPPORTED', 'internal server error', { requestId: ctx.id }, { status: 500 });
  }
  if (res.headersSent) {
    // The status line is gone; cutting the connection is the only way left to say the answer failed.
    res.destroy();
    return;
  }
  for (const name of res.getHeaderNames()) {
    if (name !== 'x-request-id' && name !== 'docker-distribution-api-version') res.removeHeader(name);
  }
  for (const [k, v] of Object.entries(oci.headers)) res.setHeader(k, v);
  const body = JSON.stringify({ errors: [oci.toJSON()] });
  res.statusCode = oci.status;
  res.setHeader('Content-Type', 'application/json');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.end(req.method === 'HEAD' ? undefined : body);
  if (!req.complete) drainThenClose(req);
}

/** What the registry reads and throws away of a body it answered early, before it cuts the connection. */
const DRAIN_BYTES = 64 * 1024 * 1024;
const DRAIN_MS = 30_000;

/**
 * A body the handler did not read to its end (refused before reading, or a store that failed midway)
 * is still arriving. Closing at once makes the client's kernel see a reset while it is still sending,
 * and many clients then report "connection reset" instead of the answer: so read and discard the rest,
 * up to a bound in bytes and time, then cut the connection (unbounded input is never read).
 */
function drainThenClose(req: IncomingMessage): void {
  let drained = 0;
  const cut = () => req.socket?.destroy();
  const timer = setTimeout(cut, DRAIN_MS);
  timer.unref();
  req.on('data', (chunk: Buffer) => {
    drained += chunk.length;
    if (drained > DRAIN_BYTES) {
      clearTimeout(timer);
      cut();
    }
  });
  req.once('end', () => clearTimeout(timer));
  req.once('close', () => clearTimeout(timer));
  req.resume();
}
