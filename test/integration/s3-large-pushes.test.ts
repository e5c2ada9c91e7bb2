import { startRegistry, type Registry } from '../../src/app';
import { startTestRegistry, type TestRegistry } from '../helpers/server';
import { testS3 } from '../helpers/s3';
import { blobBytes, blobDigest, fetchAndCompare, GiB, MiB, send } from '../helpers/big-blobs';

/**
 * Model-sized pushes on the real S3 (the run's Ceph RGW), each pulled back and compared byte for byte.
 * A registry once acknowledged a 1 GiB monolithic push here and stored its last 512 MiB: the S3 client's
 * compose numbered both halves as part 1. No push is trusted because it was acknowledged.
 * In CI the RGW is required (the global setup fails without it), so these never skip there.
 */
const s3 = testS3();
if (!s3) console.warn('no Ceph RGW in this run: the large S3 push tests do not run here (they do in CI)');

type Mode = 'monolithic' | 'chunked' | 'streamed';
const SIZES: [string, number][] = [
  ['600 MiB', 600 * MiB],
  ['2 GiB', 2 * GiB],
];
const MODES: Mode[] = ['monolithic', 'chunked', 'streamed'];
const CHUNK = 32 * MiB;

async function* slice(seed: string, size: number, start: number, end: number): AsyncGenerator<Buffer> {
  let at = 0;
  for await (const b of blobBytes(seed, size)) {
    const from = Math.max(start - at, 0);
    const to = Math.min(end - at, b.length);
    if (to > from) yield b.subarray(from, to);
    at += b.length;
    if (at >= end) return;
  }
}

/** Pushes the seed's blob with `mode`, spreading requests over `urls` (a client behind a load balancer). */
async function push(urls: string[], repo: string, seed: string, size: number, mode: Mode): Promise<string> {
  const digest = await blobDigest(seed, size);
  let turn = 0;
  const next = () => urls[turn++ % urls.length]!;
  const open = await send(`${next()}/v2/${repo}/blobs/uploads/`, 'POST');
  expect(open.status).toBe(202);
  let location = open.headers.location!;
  if (mode === 'monolithic') {
    const put = await send(`${next()}${location}?digest=${digest}`, 'PUT', blobBytes(seed, size), { length: size });
    expect([put.status, put.body]).toEqual([201, '']);
  } else if (mode === 'streamed') {
    // No Content-Length: Transfer-Encoding: chunked, the length known only at the end.
    const put = await send(`${next()}${location}?digest=${digest}`, 'PUT', blobBytes(seed, size));
    expect([put.status, put.body]).toEqual([201, '']);
  } else {
    for (let start = 0; start < size; start += CHUNK) {
      const end = Math.min(start + CHUNK, size);
      const r = await send(`${next()}${location}`, 'PATCH', slice(seed, size, start, end), {
        length: end - start,
        headers: { 'Content-Range': `${start}-${end - 1}` },
      });
      expect([r.status, r.body]).toEqual([202, '']);
      location = r.headers.location!;
    }
    const put = await send(`${next()}${location}${location.includes('?') ? '&' : '?'}digest=${digest}`, 'PUT');
    expect([put.status, put.body]).toEqual([201, '']);
  }
  return digest;
}

async function pullAndCompare(urls: string[], repo: string, seed: string, size: number, digest: string): Promise<void> {
  for (const url of urls) {
    const got = await fetchAndCompare(`${url}/v2/${repo}/blobs/${digest}`, seed, size);
    expect(got).toEqual({ status: 200, matched: size, received: size });
  }
}

(s3 ? describe : describe.skip)('model-sized pushes on S3 (Ceph RGW), compared byte for byte', () => {
  jest.setTimeout(20 * 60_000);

  describe('one registry on S3 with the embedded catalog (the set-up the data loss was seen on)', () => {
    let r: TestRegistry;
    beforeAll(async () => {
      r = await startTestRegistry({ database: 'sqlite', sessions: 'memory', storage: 's3' });
    });
    afterAll(async () => r?.close());

    for (const [label, size] of SIZES) {
      for (const mode of MODES) {
        it(`${mode} push of ${label}`, async () => {
          const seed = `one-${mode}-${size}-${Date.now()}`;
          const digest = await push([r.url], `big/${mode}`, seed, size, mode);
          await pullAndCompare([r.url], `big/${mode}`, seed, size, digest);
          // Room on the test RGW for the next one.
          await r.registry.services.blobs.delete(digest);
        });
      }
    }
  });

  describe('two replicas on S3 + PostgreSQL + Redis, requests alternating between them', () => {
    let a: TestRegistry;
    let b: Registry;
    let urls: string[];
    beforeAll(async () => {
      a = await startTestRegistry({ database: 'postgres', sessions: 'redis', storage: 's3' });
      b = await startRegistry(a.config);
      urls = [a.url, b.url];
    });
    afterAll(async () => {
      await b?.close();
      await a?.close();
    });

    for (const [label, size] of SIZES) {
      for (const mode of MODES) {
        it(`${mode} push of ${label} across both replicas`, async () => {
          const seed = `two-${mode}-${size}-${Date.now()}`;
          const digest = await push(urls, `big2/${mode}`, seed, size, mode);
          await pullAndCompare([...urls].reverse(), `big2/${mode}`, seed, size, digest);
          await a.registry.services.blobs.delete(digest);
        });
      }
    }

    it('completes 20 concurrent monolithic pushes of 50 MiB through both replicas, each byte-identical, without a hang', async () => {
      const size = 50 * MiB;
      const seeds = Array.from({ length: 20 }, (_, i) => `conc-${i}-${Date.now()}`);
      const started = Date.now();
      // A hang (as seen: 19 of 20 stuck for 14 minutes) fails here; the bound is generous for a loaded machine.
      const digests = await Promise.all(
        seeds.map((seed, i) => push([urls[i % 2]!, urls[(i + 1) % 2]!], `conc/r${i}`, seed, size, 'monolithic')),
      );
      const seconds = (Date.now() - started) / 1000;
      expect(seconds).toBeLessThan(300);
      for (let i = 0; i < 20; i++)
        await pullAndCompare([urls[(i + 1) % 2]!], `conc/r${i}`, seeds[i]!, size, digests[i]!);
    });
  });
});
