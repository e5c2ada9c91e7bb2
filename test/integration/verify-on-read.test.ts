import { open } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { startTestRegistry, type TestRegistry } from '../helpers/server';
import { pushBlob, random } from './http-client';

/** GETs a URL and reports the status, the bytes received and whether the body ended cleanly. */
function get(url: string): Promise<{ status: number; bytes: number; complete: boolean }> {
  return new Promise((resolve) => {
    http
      .get(url, { agent: false }, (res) => {
        let bytes = 0;
        res.on('data', (d: Buffer) => (bytes += d.length));
        res.on('end', () => resolve({ status: res.statusCode!, bytes, complete: res.complete }));
        res.on('error', () => resolve({ status: res.statusCode!, bytes, complete: false }));
        res.on('close', () => resolve({ status: res.statusCode!, bytes, complete: res.complete }));
      })
      .on('error', () => resolve({ status: 0, bytes: 0, complete: false }));
  });
}

async function corrupt(reg: TestRegistry, digest: string): Promise<void> {
  const hex = digest.slice('sha256:'.length);
  const fh = await open(path.join(reg.dataDir, 'blobs', 'sha256', hex.slice(0, 2), hex), 'r+');
  await fh.write(Buffer.from('tampered'), 0, 8, 1000);
  await fh.close();
}

describe('verify on read', () => {
  // With `verifyWith: tag` the first read hashes the blob and keeps a keyed tag, and the read after the
  // alteration is checked against that tag; with `digest` every read hashes.
  it.each([
    ['tag', 3 * 1024 * 1024],
    ['digest', 9 * 1024 * 1024 + 13],
  ] as const)(
    'cuts a full GET of altered bytes short, so no client receives a complete wrong blob (verifyWith %s)',
    async (verifyWith, size) => {
      const reg = await startTestRegistry(
        { database: 'sqlite', sessions: 'memory' },
        { blobs: { verifiedTtlSeconds: 0, verifyWith } },
      );
      try {
        const data = random(size);
        const d = await pushBlob(reg.url, 'verify/a', data);
        for (let i = 0; i < 2; i++)
          expect(await get(`${reg.url}/v2/verify/a/blobs/${d}`)).toEqual({
            status: 200,
            bytes: data.length,
            complete: true,
          });
        await corrupt(reg, d);
        const r = await get(`${reg.url}/v2/verify/a/blobs/${d}`);
        expect(r.complete).toBe(false);
        expect(r.bytes).toBeLessThan(data.length);
        const metrics = await (await fetch(`${reg.url}/metrics`)).text();
        expect(metrics).toMatch(/cairn_integrity_failures_total\{where="blob-read"\} 1/);
      } finally {
        await reg.close();
      }
    },
  );

  it('skips re-hashing a blob it verified within the TTL, and verifies again after it', async () => {
    const reg = await startTestRegistry(
      { database: 'sqlite', sessions: 'memory' },
      { blobs: { verifiedTtlSeconds: 1 } },
    );
    try {
      const data = random(1024 * 1024);
      const d = await pushBlob(reg.url, 'verify/b', data);
      await corrupt(reg, d);
      // Verified on upload a moment ago: served as stored (the client's own digest check still applies).
      expect((await get(`${reg.url}/v2/verify/b/blobs/${d}`)).complete).toBe(true);
      await new Promise((r) => setTimeout(r, 1200));
      expect((await get(`${reg.url}/v2/verify/b/blobs/${d}`)).complete).toBe(false);
    } finally {
      await reg.close();
    }
  });
});
