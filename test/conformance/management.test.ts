import { expectError, profiles, random, repoName, sha256, useRegistry } from './client';

describe.each(profiles)('content management (%s)', (_name, profile) => {
  const t = useRegistry(profile);

  it('deletes a tag and only the tag', async () => {
    const repo = repoName();
    const img = await t.c.pushImage(repo, 'v1');
    expect((await t.c.putManifest(repo, 'v2', img.body)).status).toBe(201);
    expect((await t.c.fetch(`/v2/${repo}/manifests/v1`, { method: 'DELETE' })).status).toBe(202);
    await expectError(await t.c.fetch(`/v2/${repo}/manifests/v1`), 404, 'MANIFEST_UNKNOWN');
    expect((await t.c.fetch(`/v2/${repo}/manifests/v2`)).status).toBe(200);
    expect((await t.c.fetch(`/v2/${repo}/manifests/${img.digest}`)).status).toBe(200);
    expect(((await (await t.c.fetch(`/v2/${repo}/tags/list`)).json()) as { tags: string[] }).tags).toEqual(['v2']);
    await expectError(await t.c.fetch(`/v2/${repo}/manifests/v1`, { method: 'DELETE' }), 404, 'MANIFEST_UNKNOWN');
  });

  it('deletes a manifest by digest, with every tag pointing at it', async () => {
    const repo = repoName();
    const img = await t.c.pushImage(repo, 'v1');
    await t.c.putManifest(repo, 'stable', img.body);
    const other = await t.c.pushImage(repo, 'other');
    expect((await t.c.fetch(`/v2/${repo}/manifests/${img.digest}`, { method: 'DELETE' })).status).toBe(202);
    await expectError(await t.c.fetch(`/v2/${repo}/manifests/${img.digest}`), 404, 'MANIFEST_UNKNOWN');
    await expectError(await t.c.fetch(`/v2/${repo}/manifests/v1`), 404, 'MANIFEST_UNKNOWN');
    await expectError(await t.c.fetch(`/v2/${repo}/manifests/stable`), 404, 'MANIFEST_UNKNOWN');
    expect(((await (await t.c.fetch(`/v2/${repo}/tags/list`)).json()) as { tags: string[] }).tags).toEqual(['other']);
    expect((await t.c.fetch(`/v2/${repo}/manifests/${other.digest}`)).status).toBe(200);
    await expectError(
      await t.c.fetch(`/v2/${repo}/manifests/${img.digest}`, { method: 'DELETE' }),
      404,
      'MANIFEST_UNKNOWN',
    );
    // The blobs stay until the collector finds them unreferenced.
    expect((await t.c.fetch(`/v2/${repo}/blobs/${img.layerDigest}`)).status).toBe(200);
    // And the manifest can be pushed again.
    expect((await t.c.putManifest(repo, 'v1', img.body)).status).toBe(201);
  });

  it('deletes a blob from a repository', async () => {
    const repo = repoName();
    const other = repoName();
    const data = random(100);
    const d = await t.c.pushBlob(repo, data);
    await t.c.pushBlob(other, data);
    expect((await t.c.fetch(`/v2/${repo}/blobs/${d}`, { method: 'DELETE' })).status).toBe(202);
    await expectError(await t.c.fetch(`/v2/${repo}/blobs/${d}`), 404, 'BLOB_UNKNOWN');
    await expectError(await t.c.fetch(`/v2/${repo}/blobs/${d}`, { method: 'DELETE' }), 404, 'BLOB_UNKNOWN');
    await expectError(await t.c.fetch(`/v2/${repo}/blobs/sha256:bad`, { method: 'DELETE' }), 400, 'DIGEST_INVALID');
    // Still there for the other repository that pushed it.
    expect(Buffer.from(await (await t.c.fetch(`/v2/${other}/blobs/${d}`)).arrayBuffer()).equals(data)).toBe(true);
  });

  it('answers UNSUPPORTED with Allow for methods an endpoint does not have', async () => {
    const repo = repoName();
    const r = await t.c.fetch(`/v2/${repo}/tags/list`, { method: 'DELETE' });
    await expectError(r, 405, 'UNSUPPORTED');
    const b = await t.c.fetch(`/v2/${repo}/blobs/${sha256('x')}`, { method: 'PUT', body: 'x' });
    expect(b.headers.get('allow')).toBe('GET, HEAD, DELETE');
    await expectError(b, 405, 'UNSUPPORTED');
    await expectError(await t.c.fetch('/v2/_catalog', { method: 'POST' }), 405, 'UNSUPPORTED');
  });
});
