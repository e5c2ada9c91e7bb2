import { createCipheriv, createHash } from 'node:crypto';
import http from 'node:http';

/**
 * Model-sized blobs for tests, never held whole in memory or written to disk: a deterministic pseudo-
 * random stream (AES-128-CTR of zeros under a seed), generated again to compare what comes back byte
 * for byte.
 */
export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;

export async function* blobBytes(seed: string, size: number, piece = MiB): AsyncGenerator<Buffer> {
  const key = createHash('sha256').update(seed).digest().subarray(0, 16);
  const cipher = createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  const zeros = Buffer.alloc(piece);
  for (let sent = 0; sent < size; sent += piece) {
    // A fresh buffer each time: the consumer may still hold the previous one.
    yield cipher.update(zeros.subarray(0, Math.min(piece, size - sent)));
  }
}

export async function blobDigest(seed: string, size: number): Promise<string> {
  const h = createHash('sha256');
  for await (const b of blobBytes(seed, size)) h.update(b);
  return `sha256:${h.digest('hex')}`;
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/**
 * One request with a streamed body: with `length` it is sent with Content-Length, without it as
 * Transfer-Encoding: chunked (a streamed push of unknown length). Fails after `timeoutMs` instead of
 * hanging, so that a deadlock shows as a failed test.
 */
export function send(
  url: string,
  method: string,
  body?: AsyncIterable<Buffer> | Buffer,
  opts: { length?: number; headers?: Record<string, string>; timeoutMs?: number } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...opts.headers };
    if (Buffer.isBuffer(body)) headers['Content-Length'] = String(body.length);
    else if (body && opts.length !== undefined) headers['Content-Length'] = String(opts.length);
    else if (!body) headers['Content-Length'] = '0';
    const req = http.request(url, { method, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c.length < 4096 ? c : c.slice(0, 4096)));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
      res.on('error', reject);
    });
    req.setTimeout(opts.timeoutMs ?? 300_000, () =>
      req.destroy(new Error(`${method} ${url}: no answer within ${(opts.timeoutMs ?? 300_000) / 1000} s`)),
    );
    req.on('error', reject);
    if (!body || Buffer.isBuffer(body)) {
      req.end(body);
      return;
    }
    void (async () => {
      try {
        for await (const chunk of body) if (!req.write(chunk)) await new Promise((r) => req.once('drain', r));
        req.end();
      } catch (err) {
        req.destroy(err as Error);
      }
    })();
  });
}

/**
 * GETs a blob and compares every byte with the seed's stream; resolves to the number of bytes that
 * matched before the first difference or the end. Fails when no byte arrives for `idleMs`.
 */
export function fetchAndCompare(
  url: string,
  seed: string,
  size: number,
  idleMs = 60_000,
): Promise<{ status: number; matched: number; received: number; error?: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        resolve({ status: res.statusCode!, matched: 0, received: 0 });
        return;
      }
      const expected = blobBytes(seed, size);
      let pending: Buffer = Buffer.alloc(0);
      let matched = 0;
      let received = 0;
      let differs = false;
      res.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (differs) return;
        res.pause();
        void (async () => {
          let at = 0;
          while (at < chunk.length && !differs) {
            if (pending.length === 0) {
              const next = await expected.next();
              if (next.done) {
                differs = true;
                break;
              }
              pending = next.value;
            }
            const n = Math.min(pending.length, chunk.length - at);
            if (!chunk.subarray(at, at + n).equals(pending.subarray(0, n))) differs = true;
            else matched += n;
            at += n;
            pending = pending.subarray(n);
          }
          res.resume();
        })();
      });
      res.on('end', () => resolve({ status: 200, matched, received }));
      res.on('error', (err) => resolve({ status: 200, matched, received, error: err.message }));
      res.on('aborted', () => resolve({ status: 200, matched, received, error: 'aborted' }));
    });
    req.setTimeout(idleMs, () => req.destroy(new Error(`GET ${url}: idle for ${idleMs / 1000} s`)));
    req.on('error', reject);
  });
}
