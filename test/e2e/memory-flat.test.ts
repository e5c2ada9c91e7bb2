import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import http from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { blobBytes, blobDigest, fetchAndCompare, GiB, MiB, send } from '../helpers/big-blobs';
import { memoryOf, serveCairn } from '../helpers/cairn-process';

/**
 * Memory does not grow with the blob: `cairn serve` in its own process takes a 10 GiB push and serves it
 * back (every byte hashed on the way out), and its resident set grows by less than 100 MB over what it
 * held after a small push and pull. Bytes are generated and compared as they stream, never held.
 */
/** Runs `work` while sampling the process's RSS every 100 ms: its RSS before, and the highest seen. */
async function rssDuring(pid: number, work: () => Promise<void>): Promise<{ baseline: number; highest: number }> {
  const baseline = (await memoryOf(pid)).rss;
  let highest = baseline;
  const sampler = setInterval(() => {
    memoryOf(pid).then(
      (m) => (highest = Math.max(highest, m.rss)),
      () => undefined,
    );
  }, 100);
  try {
    await work();
  } finally {
    clearInterval(sampler);
  }
  return { baseline, highest };
}

describe('memory flat in blob size', () => {
  let dir: string;
  let server: { child: ChildProcess; url: string } | undefined;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'cairn-memory-'));
  });
  afterAll(async () => {
    server?.child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });

  const push = async (url: string, repo: string, seed: string, size: number): Promise<string> => {
    const digest = await blobDigest(seed, size);
    const open = await send(`${url}/v2/${repo}/blobs/uploads/`, 'POST');
    expect(open.status).toBe(202);
    const put = await send(`${url}${open.headers.location}?digest=${digest}`, 'PUT', blobBytes(seed, size), {
      length: size,
      timeoutMs: 600_000,
    });
    expect([put.status, put.body]).toEqual([201, '']);
    return digest;
  };

  it('pushes and pulls 10 GiB with the server growing by less than 100 MB', async () => {
    server = await serveCairn(dir, { CAIRN_VERIFIED_TTL: '0' });
    const { child, url } = server;
    // Warm up: the code paths, pools and buffers a push and a pull need are in place before the baseline.
    const small = await push(url, 'memory/flat', 'warm-up', 64 * MiB);
    expect(await fetchAndCompare(`${url}/v2/memory/flat/blobs/${small}`, 'warm-up', 64 * MiB)).toMatchObject({
      matched: 64 * MiB,
    });
    const { baseline, highest } = await rssDuring(child.pid!, async () => {
      const size = 10 * GiB;
      const digest = await push(url, 'memory/flat', 'ten', size);
      const pulled = await fetchAndCompare(`${url}/v2/memory/flat/blobs/${digest}`, 'ten', size);
      expect(pulled).toEqual({ status: 200, matched: size, received: size });
    });
    const growth = highest - baseline;
    // Shown with the figures whether or not it passes: the margin matters as much as the verdict.
    console.log(
      `server RSS ${(baseline / MiB).toFixed(0)} MiB after warm-up, highest ${(highest / MiB).toFixed(0)} MiB`,
    );
    expect(growth).toBeLessThan(100 * 1000 * 1000);
  }, 900_000);

  it('answers manifest GETs after a 768 MiB chunked push without growing: request objects stay young', async () => {
    // The young collections forced during a push (storage/body-garbage.ts) once taught V8's pretenuring
    // that request objects live long: later GETs filled the old generation with garbage (+75 MB).
    const fresh = await serveCairn(path.join(dir, 'after-chunked'), { CAIRN_VERIFIED_TTL: '0' });
    try {
      const { child, url } = fresh;
      const chunk = Buffer.alloc(16 * MiB, 'cairn');
      const chunks = 48;
      const h = createHash('sha256');
      for (let i = 0; i < chunks; i++) h.update(chunk);
      const open = await send(`${url}/v2/memory/chunked/blobs/uploads/`, 'POST');
      let location = open.headers.location!;
      for (let i = 0; i < chunks; i++) {
        const range = `${i * chunk.length}-${(i + 1) * chunk.length - 1}`;
        const r = await send(`${url}${location}`, 'PATCH', chunk, { headers: { 'Content-Range': range } });
        expect(r.status).toBe(202);
        location = r.headers.location!;
      }
      const sep = location.includes('?') ? '&' : '?';
      const put = await send(`${url}${location}${sep}digest=sha256:${h.digest('hex')}`, 'PUT');
      expect(put.status).toBe(201);
      const config = Buffer.from('{}');
      const configDigest = `sha256:${createHash('sha256').update(config).digest('hex')}`;
      const c = await send(`${url}/v2/memory/chunked/blobs/uploads/?digest=${configDigest}`, 'POST', config);
      expect(c.status).toBe(201);
      const manifest = JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: configDigest, size: config.length },
        layers: [],
      });
      const m = await send(`${url}/v2/memory/chunked/manifests/latest`, 'PUT', Buffer.from(manifest), {
        headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
      });
      expect(m.status).toBe(201);

      const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });
      const get = () =>
        new Promise<number>((resolve, reject) => {
          http
            .get(
              `${url}/v2/memory/chunked/manifests/latest`,
              { agent, headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } },
              (res) => {
                res.resume();
                res.on('end', () => resolve(res.statusCode!));
              },
            )
            .on('error', reject);
        });
      // Warm up the GET path, then measure from there.
      for (let i = 0; i < 200; i++) expect(await get()).toBe(200);
      let done = 0;
      const { baseline, highest } = await rssDuring(child.pid!, async () => {
        const until = Date.now() + 8_000;
        try {
          await Promise.all(
            Array.from({ length: 32 }, async () => {
              while (Date.now() < until) {
                expect(await get()).toBe(200);
                done++;
              }
            }),
          );
        } finally {
          agent.destroy();
        }
      });
      console.log(
        `${done} GETs after a 768 MiB chunked push: server RSS ${(baseline / MiB).toFixed(0)} MiB before, highest ${(highest / MiB).toFixed(0)} MiB`,
      );
      expect(highest - baseline).toBeLessThan(40 * 1000 * 1000);
    } finally {
      fresh.child.kill('SIGKILL');
    }
  }, 300_000);
});
