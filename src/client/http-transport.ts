import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';

export type RequestBody = Buffer | string | NodeJS.ReadableStream;

/** No byte in either direction for this long means the peer is gone (a commit of a huge blob stays well below). */
const IDLE_TIMEOUT_MS = 10 * 60_000;

/**
 * One HTTP exchange over node:http(s). Chosen over fetch because uploads need a streamed body with an
 * exact Content-Length (fetch would send it chunked), and downloads need the raw response stream.
 */
export class HttpTransport {
  private readonly httpAgent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  private readonly httpsAgent = new https.Agent({ keepAlive: true, maxSockets: 8 });

  send(method: string, url: URL, headers: Record<string, string>, body?: RequestBody): Promise<IncomingMessage> {
    const secure = url.protocol === 'https:';
    const mod = secure ? https : http;
    return new Promise<IncomingMessage>((resolve, reject) => {
      const req = mod.request(url, { method, headers, agent: secure ? this.httpsAgent : this.httpAgent }, resolve);
      // After the response arrived, a late write error (the server answered early and closed) is harmless.
      req.on('error', reject);
      req.setTimeout(IDLE_TIMEOUT_MS, () =>
        req.destroy(new Error(`${url.host} sent nothing for ${IDLE_TIMEOUT_MS / 1000} s`)),
      );
      if (body === undefined) {
        if (!hasHeader(headers, 'content-length') && method !== 'GET' && method !== 'HEAD')
          req.setHeader('Content-Length', '0');
        req.end();
      } else if (typeof body === 'string' || Buffer.isBuffer(body)) {
        if (!hasHeader(headers, 'content-length')) req.setHeader('Content-Length', String(Buffer.byteLength(body)));
        req.end(body);
      } else {
        const stream = body as Readable;
        stream.on('error', (err) => req.destroy(err));
        stream.pipe(req);
      }
    });
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }
}

export function hasHeader(headers: Record<string, string>, name: string): boolean {
  return Object.keys(headers).some((k) => k.toLowerCase() === name);
}

export function flatHeaders(res: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(res.headers)) {
    if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}

export async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream as AsyncIterable<Buffer | string>)
    chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks);
}

/** Reads and drops a response body so that its connection can be reused. */
export async function drain(res: IncomingMessage): Promise<void> {
  try {
    for await (const _ of res) {
      // discard
    }
  } catch {
    // a broken body of a response we do not use
  }
}
