import { startRegistry, type Registry } from '../../src/app';
import { startTestRegistry, type TestRegistry } from '../helpers/server';
import { testS3 } from '../helpers/s3';
import { sha256, random } from '../conformance/client';

/**
 * Two stateless replicas sharing one state (S3 when the run has it, PostgreSQL, Redis), as behind a load
 * balancer: any request may land on either.
 */
describe(`two replicas sharing ${testS3() ? 'S3' : 'file storage'} + PostgreSQL + Redis`, () => {
  let a: TestRegistry;
  let b: Registry;
  beforeAll(async () => {
    a = await startTestRegistry({ database: 'postgres', sessions: 'redis', storage: testS3() ? 's3' : 'fs' });
    b = await startRegistry(a.config);
  });
  afterAll(async () => {
    await b.close();
    await a.close();
  });
  const at = (r: { url: string }, path: string) => new URL(path, r.url).toString();

  it('finishes on one replica an upload opened on the other, with chunks alternating between them', async () => {
    const data = random(6 * 1024 * 1024 + 3);
    const open = await fetch(at(a, '/v2/replicas/up/blobs/uploads/'), { method: 'POST' });
    let location = open.headers.get('location')!;
    const cut = [0, 2 * 1024 * 1024, 4 * 1024 * 1024, data.length];
    for (let i = 0; i < 3; i++) {
      const replica = i % 2 === 0 ? b : a;
      const chunk = data.subarray(cut[i], cut[i + 1]);
      const r = await fetch(at(replica, location), {
        method: 'PATCH',
        body: chunk,
        headers: { 'Content-Range': `${cut[i]}-${cut[i + 1]! - 1}` },
      });
      expect(r.status).toBe(202);
      location = r.headers.get('location')!;
    }
    const done = await fetch(at(a, `${location}?digest=${sha256(data)}`), { method: 'PUT' });
    expect(done.status).toBe(201);
    for (const replica of [a, b]) {
      const g = await fetch(at(replica, `/v2/replicas/up/blobs/${sha256(data)}`));
      expect(Buffer.from(await g.arrayBuffer()).equals(data)).toBe(true);
    }
  });

  it('keeps the hashing linear when chunks alternate: each replica reads only the chunks it did not receive', async () => {
    // Count the staged bytes each replica reads back to bring its running hash up to date.
    let reread = 0;
    const restore: (() => void)[] = [];
    for (const blobs of [a.registry.services.blobs, b.services.blobs]) {
      const original = blobs.stageRead.bind(blobs);
      blobs.stageRead = async (id, end, start) => {
        const stream = await original(id, end, start);
        // Reads for hashing name their window; a commit that streams small chunks through reads it all.
        if (end !== undefined) stream.on('data', (c: Buffer) => (reread += c.length));
        return stream;
      };
      restore.push(() => (blobs.stageRead = original));
    }
    try {
      const chunk = 1024 * 1024;
      const n = 12;
      const data = random(n * chunk);
      const open = await fetch(at(a, '/v2/replicas/linear/blobs/uploads/'), { method: 'POST' });
      let location = open.headers.get('location')!;
      for (let i = 0; i < n; i++) {
        const r = await fetch(at(i % 2 ? a : b, location), {
          method: 'PATCH',
          body: data.subarray(i * chunk, (i + 1) * chunk),
          headers: { 'Content-Range': `${i * chunk}-${(i + 1) * chunk - 1}` },
        });
        expect(r.status).toBe(202);
        location = r.headers.get('location')!;
      }
      expect((await fetch(at(b, `${location}?digest=${sha256(data)}`), { method: 'PUT' })).status).toBe(201);
      // Rebuilding from the start on every switch would read about n/2 times the blob; catching up reads
      // each chunk at most once more (the first chunk a replica sees after the other's).
      expect(reread).toBeLessThanOrEqual(data.length);
      expect(reread).toBeGreaterThan(0);
    } finally {
      restore.forEach((r) => r());
    }
  });

  it('loses nothing acknowledged when a replica dies mid-upload: the client resumes on the other', async () => {
    const data = random(3 * 1024 * 1024);
    const c = await startRegistry(a.config);
    const open = await fetch(at(c, '/v2/replicas/death/blobs/uploads/'), { method: 'POST' });
    const location = open.headers.get('location')!;
    const half = data.subarray(0, 1024 * 1024);
    expect(
      (
        await fetch(at(c, location), {
          method: 'PATCH',
          body: half,
          headers: { 'Content-Range': `0-${half.length - 1}` },
        })
      ).status,
    ).toBe(202);
    await c.close();
    const status = await fetch(at(b, location));
    expect(status.headers.get('range')).toBe(`0-${half.length - 1}`);
    const rest = data.subarray(half.length);
    expect(
      (
        await fetch(at(b, location), {
          method: 'PATCH',
          body: rest,
          headers: { 'Content-Range': `${half.length}-${data.length - 1}` },
        })
      ).status,
    ).toBe(202);
    expect((await fetch(at(b, `${location}?digest=${sha256(data)}`), { method: 'PUT' })).status).toBe(201);
  });

  it('reads on one replica a tag written on the other, at once', async () => {
    const config = Buffer.from('{}');
    await fetch(at(a, `/v2/replicas/tags/blobs/uploads/?digest=${sha256(config)}`), { method: 'POST', body: config });
    for (let i = 0; i < 5; i++) {
      const m = JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: 2 },
        layers: [],
        annotations: { i: String(i) },
      });
      const writer = i % 2 ? a : b;
      const reader = i % 2 ? b : a;
      expect(
        (
          await fetch(at(writer, '/v2/replicas/tags/manifests/latest'), {
            method: 'PUT',
            body: m,
            headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
          })
        ).status,
      ).toBe(201);
      const g = await fetch(at(reader, '/v2/replicas/tags/manifests/latest'));
      expect(g.headers.get('docker-content-digest')).toBe(sha256(m));
    }
  });

  it('stays consistent under concurrent pushes of one blob and concurrent tag moves on both replicas', async () => {
    const blob = random(2 * 1024 * 1024);
    const pushes = await Promise.all(
      [a, b, a, b].map((r) =>
        fetch(at(r, `/v2/replicas/race/blobs/uploads/?digest=${sha256(blob)}`), { method: 'POST', body: blob }),
      ),
    );
    expect(pushes.map((p) => p.status)).toEqual([201, 201, 201, 201]);
    const manifests = Array.from({ length: 8 }, (_, i) =>
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(blob), size: blob.length },
        layers: [],
        annotations: { n: String(i) },
      }),
    );
    const puts = await Promise.all(
      manifests.map((m, i) =>
        fetch(at(i % 2 ? a : b, '/v2/replicas/race/manifests/moving'), {
          method: 'PUT',
          body: m,
          headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
        }),
      ),
    );
    expect(puts.every((p) => p.status === 201)).toBe(true);
    const fromA = (await fetch(at(a, '/v2/replicas/race/manifests/moving'))).headers.get('docker-content-digest');
    const fromB = (await fetch(at(b, '/v2/replicas/race/manifests/moving'))).headers.get('docker-content-digest');
    expect(fromA).toBe(fromB);
    expect(manifests.map((m) => sha256(m))).toContain(fromA);
    const tags = (await (await fetch(at(b, '/v2/replicas/race/tags/list'))).json()) as { tags: string[] };
    expect(tags.tags).toEqual(['moving']);
    for (const m of manifests)
      expect((await fetch(at(a, `/v2/replicas/race/manifests/${sha256(m)}`), { method: 'HEAD' })).status).toBe(200);
    let copies = 0;
    for await (const x of a.registry.services.blobs.list()) if (x.digest === sha256(blob)) copies++;
    expect(copies).toBe(1);
  });
});
