import type { IncomingMessage, ServerResponse } from 'node:http';
import { OciError } from '../oci/errors';
import { isBackendUnavailable } from './backend-errors';
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
  } else if (isBackendUnavailable(err)) {
    // Loud in the logs and to the client, and retryable: the backend, not the request, is at fault.
    ctx.logger.error({ err, reqId: ctx.id, method: req.method, url: req.url }, 'backend unavailable');
    oci = new OciError('UNAVAILABLE', 'a backend of the registry is unavailable; retry later', { requestId: ctx.id });
  } else {
    ctx.logger.error({ err, reqId: ctx.id, method: req.method, url: req.url }, 'unhandled error');
    oci = new OciError('UNKNOWN', 'internal server error', { requestId: ctx.id });
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
  const send = (complete: boolean) => {
    // A body not read to its end must not be parsed as the next request: this connection ends here.
    if (!complete) res.setHeader('Connection', 'close');
    res.end(req.method === 'HEAD' ? undefined : body);
  };
  if (req.complete || req.destroyed) send(true);
  else drain(req, send);
}

/** What the registry reads and throws away of a body it answers early, and how long it waits for it. */
const DRAIN_BYTES = 64 * 1024 * 1024;
const DRAIN_MS = 30_000;
const DRAIN_IDLE_MS = 1_000;

/**
 * A body the handler did not read to its end (refused before reading, or a store that failed midway)
 * is still arriving. Answering and closing at once makes the client's kernel see a reset while it is
 * still sending, and many clients (Node's fetch among them) then report "fetch failed" instead of the
 * answer. So the rest is read and thrown away first, up to a bound in bytes and time (never unbounded
 * input), and the answer follows: on the same connection when the body ended, else closing it.
 */
function drain(req: IncomingMessage, then: (complete: boolean) => void): void {
  let drained = 0;
  let settled = false;
  const settle = (complete: boolean) => {
    if (settled) return;
    settled = true;
    clearTimeout(total);
    clearTimeout(idle);
    req.removeListener('data', onData);
    if (!complete) req.pause();
    then(complete);
  };
  const total = setTimeout(() => settle(false), DRAIN_MS);
  let idle = setTimeout(() => settle(false), DRAIN_IDLE_MS);
  const onData = (chunk: Buffer) => {
    drained += chunk.length;
    clearTimeout(idle);
    if (drained > DRAIN_BYTES) settle(false);
    else idle = setTimeout(() => settle(false), DRAIN_IDLE_MS);
  };
  req.on('data', onData);
  req.once('end', () => settle(true));
  req.once('close', () => settle(req.complete));
  req.resume();
}
