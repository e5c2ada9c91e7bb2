import { startTestRegistry, type TestRegistry } from '../helpers/server';
import { Client, expectError, profiles, random, repoName, sha256 } from './client';

describe.each(profiles)('content management (%s)', (_name, profile) => {
  let reg: TestRegistry;
  let c: Client;
  beforeAll(async () => {
    reg = await startTestRegistry(profile);
    c = new Client(reg.url);
  });
  afterAll(async () => reg.close());

  it('deletes a tag and only the tag', async () => {
    const repo = repoName();
    const img = await c.pushImage(repo, 'v1');
    expect((await c.putManifest(repo, 'v2', img.body)).status).toBe(201);
    expect((await c.fetch(`/v2/${repo}/manifests/v1`, { method: 'DELETE' })).status).toBe(202);
    await expectError(await c.fetch(`/v2/${repo}/manifests/v1`), 404, 'MANIFEST_UNKNOWN');
    expect((await c.fetch(`/v2/${repo}/manifests/v2`)).status).toBe(200);
    expect((await c.fetch(`/v2/${repo}/manifests/${img.digest}`)).status).toBe(200);
    expect(((await (await c.fetch(`/v2/${repo}/tags/list`)).json()) as { tags: string[] }).tags).toEqual(['v2']);
    await expectError(await c.fetch(`/v2/${repo}/manifests/v1`, { method: 'DELETE' }), 404, 'MANIFEST_UNKNOWN');
  });

  it('deletes a manifest by digest, with every tag pointing at it', async () => {
    const repo = repoName();
    const img = await c.pushImage(repo, 'v1');
    await c.putManifest(repo, 'stable', img.body);
    const other = await c.pushImage(repo, 'other');
    expect((await c.fetch(`/v2/${repo}/manifests/${img.digest}`, { method: 'DELETE' })).status).toBe(202);
    await expectError(await c.fetch(`/v2/${repo}/manifests/${img.digest}`), 404, 'MANIFEST_UNKNOWN');
    await expectError(await c.fetch(`/v2/${repo}/manifests/v1`), 404, 'MANIFEST_UNKNOWN');
    await expectError(await c.fetch(`/v2/${repo}/manifests/stable`), 404, 'MANIFEST_UNKNOWN');
    expect(((await (await c.fetch(`/v2/${repo}/tags/list`)).json()) as { tags: string[] }).tags).toEqual(['other']);
    expect((await c.fetch(`/v2/${repo}/manifests/${other.digest}`)).status).toBe(200);
    await expectError(await c.fetch(`/v2/${repo}/manifests/${img.digest}`, { method: 'DELETE' }), 404, 'MANIFEST_UNKNOWN');
    // The blobs stay until the collector finds them unreferenced.
    expect((await c.fetch(`/v2/${repo}/blobs/${img.layerDigest}`)).status).toBe(200);
    // And the manifest can be pushed again.
    expect((await c.putManifest(repo, 'v1', img.body)).status).toBe(201);
  });

  it('deletes a blob from a repository', async () => {
    const repo = repoName();
    const other = repoName();
    const data = random(100);
    const d = await c.pushBlob(repo, data);
    await c.pushBlob(other, data);
    expect((await c.fetch(`/v2/${repo}/blobs/${d}`, { method: 'DELETE' })).status).toBe(202);
    await expectError(await c.fetch(`/v2/${repo}/blobs/${d}`), 404, 'BLOB_UNKNOWN');
    await expectError(await c.fetch(`/v2/${repo}/blobs/${d}`, { method: 'DELETE' }), 404, 'BLOB_UNKNOWN');
    await expectError(await c.fetch(`/v2/${repo}/blobs/sha256:bad`, { method: 'DELETE' }), 400, 'DIGEST_INVALID');
    // Still there for the other repository that pushed it.
    expect(Buffer.from(await (await c.fetch(`/v2/${other}/blobs/${d}`)).arrayBuffer()).equals(data)).toBe(true);
  });

  it('answers UNSUPPORTED with Allow for methods an endpoint does not have', async () => {
    const repo = repoName();
    const r = await c.fetch(`/v2/${repo}/tags/list`, { method: 'DELETE' });
    await expectError(r, 405, 'UNSUPPORTED');
    const b = await c.fetch(`/v2/${repo}/blobs/${sha256('x')}`, { method: 'PUT', body: 'x' });
    expect(b.headers.get('allow')).toBe('GET, HEAD, DELETE');
    await expectError(b, 405, 'UNSUPPORTED');
    await expectError(await c.fetch('/v2/_catalog', { method: 'POST' }), 405, 'UNSUPPORTED');
  });
});
