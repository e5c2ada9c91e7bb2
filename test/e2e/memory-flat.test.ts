import type { ChildProcess } from 'node:child_process';
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
    const baseline = (await memoryOf(child.pid!)).rss;
    let highest = baseline;
    const sampler = setInterval(() => {
      memoryOf(child.pid!).then(
        (m) => (highest = Math.max(highest, m.rss)),
        () => undefined,
      );
    }, 100);
    try {
      const size = 10 * GiB;
      const digest = await push(url, 'memory/flat', 'ten', size);
      const pulled = await fetchAndCompare(`${url}/v2/memory/flat/blobs/${digest}`, 'ten', size);
      expect(pulled).toEqual({ status: 200, matched: size, received: size });
    } finally {
      clearInterval(sampler);
    }
    const growth = highest - baseline;
    // Shown with the figures whether or not it passes: the margin matters as much as the verdict.
    console.log(
      `server RSS ${(baseline / MiB).toFixed(0)} MiB after warm-up, highest ${(highest / MiB).toFixed(0)} MiB`,
    );
    expect(growth).toBeLessThan(100 * 1000 * 1000);
  }, 900_000);
});
