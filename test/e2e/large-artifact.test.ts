import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { startTestRegistry, type TestRegistry } from '../helpers/server';

const GiB = 1024 * 1024 * 1024;
const CHUNK = 64 * 1024 * 1024;

/** Writes `size` pseudo-random bytes to a file, 1 MiB at a time, and returns their sha256 digest. */
async function generate(file: string, size: number): Promise<string> {
  const out = createWriteStream(file);
  const hash = createHash('sha256');
  const block = randomBytes(1024 * 1024);
  for (let written = 0, i = 0; written < size; written += block.length, i++) {
    // Vary each block cheaply so the content is not one repeated MiB.
    block.writeUInt32LE(i, 0);
    hash.update(block);
    if (!out.write(block)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  return `sha256:${hash.digest('hex')}`;
}

function request(
  base: string,
  method: string,
  path: string,
  headers: Record<string, string | number>,
  body?: NodeJS.ReadableStream | Buffer,
): Promise<http.IncomingMessage> {
  const u = new URL(path, base);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, method, path: u.pathname + u.search, headers }, resolve);
    req.on('error', reject);
    if (body && 'pipe' in body) body.pipe(req);
    else req.end(body);
  });
}

async function drain(res: http.IncomingMessage): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const p of res) parts.push(p as Buffer);
  return Buffer.concat(parts);
}

describe('a 1 GiB model artifact pushed in chunks, with a referrer, and pulled back', () => {
  let reg: TestRegistry;
  let dir: string;
  beforeAll(async () => {
    reg = await startTestRegistry({ database: 'sqlite', sessions: 'memory' });
    dir = await mkdtemp(path.join(os.tmpdir(), 'cairn-large-'));
  });
  afterAll(async () => {
    await reg.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('round-trips with flat memory', async () => {
    const file = path.join(dir, 'weights.bin');
    const digest = await generate(file, GiB);
    const repo = 'models/large';
    const rssBefore = process.memoryUsage().rss;

    const open = await request(reg.url, 'POST', `/v2/${repo}/blobs/uploads/`, {});
    await drain(open);
    expect(open.statusCode).toBe(202);
    let location = open.headers.location!;
    for (let start = 0; start < GiB; start += CHUNK) {
      const end = Math.min(start + CHUNK, GiB) - 1;
      const res = await request(
        reg.url,
        'PATCH',
        location,
        {
          'Content-Type': 'application/octet-stream',
          'Content-Length': end - start + 1,
          'Content-Range': `${start}-${end}`,
        },
        createReadStream(file, { start, end }),
      );
      await drain(res);
      expect(res.statusCode).toBe(202);
      expect(res.headers.range).toBe(`0-${end}`);
      location = res.headers.location!;
    }
    const done = await request(reg.url, 'PUT', `${location}?digest=${digest}`, {});
    await drain(done);
    expect(done.statusCode).toBe(201);

    const config = Buffer.from(
      JSON.stringify({
        descriptor: { name: 'large', version: '1' },
        config: { format: 'safetensors' },
        modelfs: { type: 'layers', diffIds: [digest] },
      }),
    );
    const configDigest = `sha256:${createHash('sha256').update(config).digest('hex')}`;
    const cr = await request(
      reg.url,
      'POST',
      `/v2/${repo}/blobs/uploads/?digest=${configDigest}`,
      { 'Content-Length': config.length },
      config,
    );
    await drain(cr);
    expect(cr.statusCode).toBe(201);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        artifactType: 'application/vnd.cncf.model.manifest.v1+json',
        config: { mediaType: 'application/vnd.cncf.model.config.v1+json', digest: configDigest, size: config.length },
        layers: [
          {
            mediaType: 'application/vnd.cncf.model.weight.v1.raw',
            digest,
            size: GiB,
            annotations: { 'org.opencontainers.image.title': 'weights.bin' },
          },
        ],
      }),
    );
    const manifestDigest = `sha256:${createHash('sha256').update(manifest).digest('hex')}`;
    const mr = await request(
      reg.url,
      'PUT',
      `/v2/${repo}/manifests/v1`,
      { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
      manifest,
    );
    await drain(mr);
    expect(mr.statusCode).toBe(201);
    expect(mr.headers['docker-content-digest']).toBe(manifestDigest);

    const empty = Buffer.from('{}');
    const emptyDigest = `sha256:${createHash('sha256').update(empty).digest('hex')}`;
    await drain(
      await request(
        reg.url,
        'POST',
        `/v2/${repo}/blobs/uploads/?digest=${emptyDigest}`,
        { 'Content-Length': 2 },
        empty,
      ),
    );
    const referrer = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        artifactType: 'application/vnd.cairn.eval-report.v1+json',
        config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: emptyDigest, size: 2 },
        layers: [{ mediaType: 'application/vnd.oci.empty.v1+json', digest: emptyDigest, size: 2 }],
        subject: {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest: manifestDigest,
          size: manifest.length,
        },
        annotations: { 'org.example.accuracy': '0.91' },
      }),
    );
    const rr = await request(
      reg.url,
      'PUT',
      `/v2/${repo}/manifests/eval`,
      { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
      referrer,
    );
    await drain(rr);
    expect(rr.statusCode).toBe(201);
    expect(rr.headers['oci-subject']).toBe(manifestDigest);

    // Pull it back.
    const mg = await request(reg.url, 'GET', `/v2/${repo}/manifests/v1`, {
      Accept: 'application/vnd.oci.image.manifest.v1+json',
    });
    expect((await drain(mg)).equals(manifest)).toBe(true);
    const bg = await request(reg.url, 'GET', `/v2/${repo}/blobs/${digest}`, {});
    expect(bg.statusCode).toBe(200);
    expect(bg.headers['content-length']).toBe(String(GiB));
    const pulled = createHash('sha256');
    let size = 0;
    for await (const p of bg) {
      pulled.update(p as Buffer);
      size += (p as Buffer).length;
    }
    expect(size).toBe(GiB);
    expect(`sha256:${pulled.digest('hex')}`).toBe(digest);

    const refs = await request(reg.url, 'GET', `/v2/${repo}/referrers/${manifestDigest}`, {});
    const index = JSON.parse((await drain(refs)).toString()) as {
      manifests: { artifactType: string; annotations: object }[];
    };
    expect(index.manifests.filter((m) => m.artifactType !== 'application/vnd.cairn.receipt.v1+json')).toEqual([
      expect.objectContaining({
        artifactType: 'application/vnd.cairn.eval-report.v1+json',
        annotations: { 'org.example.accuracy': '0.91' },
      }),
    ]);
    // Registry and test share this process: a blob held in memory anywhere would show as ~1 GiB here.
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(300 * 1024 * 1024);
  }, 600_000);
});
