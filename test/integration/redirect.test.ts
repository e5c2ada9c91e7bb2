import { startTestRegistry, type TestRegistry } from '../helpers/server';
import { testS3 } from '../helpers/s3';
import { random, sha256 } from '../conformance/client';

(testS3() ? describe : describe.skip)('blob GETs redirected to presigned S3 URLs', () => {
  let reg: TestRegistry;
  beforeAll(async () => {
    reg = await startTestRegistry(
      { database: 'sqlite', sessions: 'memory', storage: 's3' },
      { blobs: { redirect: true, redirectTtlSeconds: 60 } },
    );
  });
  afterAll(async () => reg.close());

  it('answers 307 to a short-lived URL that serves the bytes, after the repository check', async () => {
    const data = random(500_000);
    const d = sha256(data);
    expect(
      (await fetch(`${reg.url}/v2/redirect/a/blobs/uploads/?digest=${d}`, { method: 'POST', body: data })).status,
    ).toBe(201);
    const r = await fetch(`${reg.url}/v2/redirect/a/blobs/${d}`, { redirect: 'manual' });
    expect(r.status).toBe(307);
    expect(r.headers.get('docker-content-digest')).toBe(d);
    const location = r.headers.get('location')!;
    expect(location).toMatch(/X-Amz-Expires=60/);
    const direct = await fetch(location);
    expect(Buffer.from(await direct.arrayBuffer()).equals(data)).toBe(true);
    // What clients do: follow it.
    const followed = await fetch(`${reg.url}/v2/redirect/a/blobs/${d}`);
    expect(Buffer.from(await followed.arrayBuffer()).equals(data)).toBe(true);
    // HEAD is answered by the registry; another repository still gets BLOB_UNKNOWN, never a URL.
    const head = await fetch(`${reg.url}/v2/redirect/a/blobs/${d}`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe('500000');
    const other = await fetch(`${reg.url}/v2/redirect/b/blobs/${d}`, { redirect: 'manual' });
    expect(other.status).toBe(404);
    expect(other.headers.get('location')).toBeNull();
  });
});
