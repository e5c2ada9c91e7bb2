import {
  DOCKER_LIST,
  DOCKER_MANIFEST,
  EMPTY_CONFIG,
  OCI_INDEX,
  OCI_MANIFEST,
  expectError,
  profiles,
  random,
  repoName,
  sha256,
  sha512,
  useRegistry,
} from './client';

describe.each(profiles)('push (%s)', (_name, profile) => {
  const t = useRegistry(profile);

  it('answers the version check', async () => {
    const r = await t.c.fetch('/v2/');
    expect(r.status).toBe(200);
    expect(r.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
  });

  it('accepts a monolithic POST with ?digest=', async () => {
    const repo = repoName();
    const data = random(5000);
    const r = await t.c.fetch(`/v2/${repo}/blobs/uploads/?digest=${sha256(data)}`, {
      method: 'POST',
      body: data,
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    expect(r.status).toBe(201);
    expect(r.headers.get('location')).toBe(`/v2/${repo}/blobs/${sha256(data)}`);
    expect(r.headers.get('docker-content-digest')).toBe(sha256(data));
    const h = await t.c.fetch(`/v2/${repo}/blobs/${sha256(data)}`, { method: 'HEAD' });
    expect(h.status).toBe(200);
    expect(h.headers.get('content-length')).toBe('5000');
    expect(h.headers.get('docker-content-digest')).toBe(sha256(data));
  });

  it('accepts POST then a single PUT with the whole body', async () => {
    const repo = repoName();
    const data = random(70_000);
    const location = await t.c.startUpload(repo);
    const r = await t.c.fetch(`${location}${location.includes('?') ? '&' : '?'}digest=${sha256(data)}`, {
      method: 'PUT',
      body: data,
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    expect(r.status).toBe(201);
    expect(r.headers.get('docker-content-digest')).toBe(sha256(data));
    const g = await t.c.fetch(`/v2/${repo}/blobs/${sha256(data)}`);
    expect(Buffer.from(await g.arrayBuffer()).equals(data)).toBe(true);
  });

  it('accepts a chunked upload, reports progress, and finishes with or without a final chunk', async () => {
    for (const finalChunk of [false, true]) {
      const repo = repoName();
      const data = random(300_000);
      const open = await t.c.fetch(`/v2/${repo}/blobs/uploads/`, { method: 'POST' });
      expect(open.status).toBe(202);
      expect(open.headers.get('docker-upload-uuid')).toBeTruthy();
      expect(open.headers.get('range')).toBe('0-0');
      let location = open.headers.get('location')!;
      const cut = finalChunk ? 200_000 : data.length;
      for (let at = 0; at < cut; at += 100_000) {
        const chunk = data.subarray(at, Math.min(at + 100_000, cut));
        const p = await t.c.fetch(location, {
          method: 'PATCH',
          body: chunk,
          headers: {
            'Content-Type': 'application/octet-stream',
            'Content-Range': `${at}-${at + chunk.length - 1}`,
            'Content-Length': String(chunk.length),
          },
        });
        expect(p.status).toBe(202);
        expect(p.headers.get('range')).toBe(`0-${at + chunk.length - 1}`);
        location = p.headers.get('location')!;
        const status = await t.c.fetch(location);
        expect(status.status).toBe(204);
        expect(status.headers.get('range')).toBe(`0-${at + chunk.length - 1}`);
        expect(status.headers.get('location')).toBeTruthy();
      }
      const rest = data.subarray(cut);
      const put = await t.c.fetch(`${location}?digest=${sha256(data)}`, {
        method: 'PUT',
        ...(finalChunk
          ? {
              body: rest,
              headers: { 'Content-Range': `${cut}-${data.length - 1}`, 'Content-Length': String(rest.length) },
            }
          : {}),
      });
      expect(put.status).toBe(201);
      expect(put.headers.get('location')).toBe(`/v2/${repo}/blobs/${sha256(data)}`);
      const g = await t.c.fetch(`/v2/${repo}/blobs/${sha256(data)}`);
      expect(Buffer.from(await g.arrayBuffer()).equals(data)).toBe(true);
      // The session is gone once finished.
      await expectError(await t.c.fetch(location), 404, 'BLOB_UPLOAD_UNKNOWN');
    }
  });

  it('accepts a streamed PATCH without Content-Range', async () => {
    const repo = repoName();
    const data = random(1_000_000);
    const location = await t.c.startUpload(repo);
    const p = await t.c.fetch(location, {
      method: 'PATCH',
      body: data,
      headers: { 'Content-Type': 'application/octet-stream' },
    });
    expect(p.status).toBe(202);
    expect(p.headers.get('range')).toBe(`0-${data.length - 1}`);
    const put = await t.c.fetch(`${p.headers.get('location')}?digest=${sha256(data)}`, { method: 'PUT' });
    expect(put.status).toBe(201);
  });

  it('answers 416 with the current Range to out-of-order and overlapping chunks', async () => {
    const repo = repoName();
    const location = await t.c.startUpload(repo);
    const a = random(100);
    expect((await t.c.fetch(location, { method: 'PATCH', body: a, headers: { 'Content-Range': '0-99' } })).status).toBe(
      202,
    );
    for (const range of ['200-299', '50-149', '0-99']) {
      const r = await t.c.fetch(location, { method: 'PATCH', body: random(100), headers: { 'Content-Range': range } });
      expect(r.status).toBe(416);
      expect(r.headers.get('range')).toBe('0-99');
      expect(r.headers.get('location')).toBeTruthy();
    }
    const status = await t.c.fetch(location);
    expect(status.headers.get('range')).toBe('0-99');
    expect((await t.c.fetch(`${location}?digest=${sha256(a)}`, { method: 'PUT' })).status).toBe(201);
  });

  it('refuses a wrong digest at PUT, and nothing becomes visible', async () => {
    const repo = repoName();
    const data = random(1000);
    const wrong = sha256(Buffer.from('something else'));
    const location = await t.c.startUpload(repo);
    await t.c.fetch(location, { method: 'PATCH', body: data, headers: { 'Content-Range': '0-999' } });
    await expectError(await t.c.fetch(`${location}?digest=${wrong}`, { method: 'PUT' }), 400, 'DIGEST_INVALID');
    await expectError(await t.c.fetch(`/v2/${repo}/blobs/${wrong}`), 404, 'BLOB_UNKNOWN');
    await expectError(await t.c.fetch(`/v2/${repo}/blobs/${sha256(data)}`), 404, 'BLOB_UNKNOWN');
    // The failed upload is cancelled, as in CNCF Distribution.
    await expectError(await t.c.fetch(location), 404, 'BLOB_UPLOAD_UNKNOWN');
    // Monolithic, too.
    await expectError(
      await t.c.fetch(`/v2/${repo}/blobs/uploads/?digest=${wrong}`, { method: 'POST', body: data }),
      400,
      'DIGEST_INVALID',
    );
    await expectError(await t.c.fetch(`/v2/${repo}/blobs/${wrong}`, { method: 'GET' }), 404, 'BLOB_UNKNOWN');
  });

  it('requires a valid digest to finish an upload', async () => {
    const repo = repoName();
    const location = await t.c.startUpload(repo);
    await expectError(await t.c.fetch(location, { method: 'PUT' }), 400, 'DIGEST_INVALID');
    await expectError(await t.c.fetch(`${location}?digest=sha256:nothex`, { method: 'PUT' }), 400, 'DIGEST_INVALID');
    await expectError(
      await t.c.fetch(`${location}?digest=md5:${'a'.repeat(32)}`, { method: 'PUT' }),
      400,
      'DIGEST_INVALID',
    );
    // Still usable after those refusals.
    expect((await t.c.fetch(`${location}?digest=${sha256(Buffer.alloc(0))}`, { method: 'PUT' })).status).toBe(201);
  });

  it('cancels an upload with DELETE', async () => {
    const repo = repoName();
    const location = await t.c.startUpload(repo);
    await t.c.fetch(location, { method: 'PATCH', body: random(10), headers: { 'Content-Range': '0-9' } });
    expect((await t.c.fetch(location, { method: 'DELETE' })).status).toBe(204);
    await expectError(await t.c.fetch(location), 404, 'BLOB_UPLOAD_UNKNOWN');
    await expectError(
      await t.c.fetch(location, { method: 'PATCH', body: random(10), headers: { 'Content-Range': '0-9' } }),
      404,
      'BLOB_UPLOAD_UNKNOWN',
    );
    await expectError(await t.c.fetch(location, { method: 'DELETE' }), 404, 'BLOB_UPLOAD_UNKNOWN');
  });

  it('answers BLOB_UPLOAD_UNKNOWN for unknown upload ids, and for an upload used through another repository', async () => {
    const repo = repoName();
    const bogus = `/v2/${repo}/blobs/uploads/00000000-0000-0000-0000-000000000000`;
    await expectError(await t.c.fetch(bogus), 404, 'BLOB_UPLOAD_UNKNOWN');
    await expectError(await t.c.fetch(bogus, { method: 'PATCH', body: 'x' }), 404, 'BLOB_UPLOAD_UNKNOWN');
    await expectError(
      await t.c.fetch(`${bogus}?digest=${sha256('x')}`, { method: 'PUT', body: 'x' }),
      404,
      'BLOB_UPLOAD_UNKNOWN',
    );
    await expectError(await t.c.fetch(bogus, { method: 'DELETE' }), 404, 'BLOB_UPLOAD_UNKNOWN');
    await expectError(await t.c.fetch(`/v2/${repo}/blobs/uploads/not*valid`), 404, 'BLOB_UPLOAD_UNKNOWN');
    const location = await t.c.startUpload(repo);
    const id = location.split('/').pop();
    await expectError(await t.c.fetch(`/v2/${repoName()}/blobs/uploads/${id}`), 404, 'BLOB_UPLOAD_UNKNOWN');
  });

  it('mounts a blob from another repository, and falls back to a session when it cannot', async () => {
    const from = repoName();
    const to = repoName();
    const data = random(4321);
    const digest = await t.c.pushBlob(from, data);
    await expectError(await t.c.fetch(`/v2/${to}/blobs/${digest}`), 404, 'BLOB_UNKNOWN');
    const m = await t.c.fetch(`/v2/${to}/blobs/uploads/?mount=${digest}&from=${from}`, { method: 'POST' });
    expect(m.status).toBe(201);
    expect(m.headers.get('location')).toBe(`/v2/${to}/blobs/${digest}`);
    expect(m.headers.get('docker-content-digest')).toBe(digest);
    const g = await t.c.fetch(`/v2/${to}/blobs/${digest}`);
    expect(Buffer.from(await g.arrayBuffer()).equals(data)).toBe(true);
    const missing = sha256(random(10));
    const fallback = await t.c.fetch(`/v2/${to}/blobs/uploads/?mount=${missing}&from=${from}`, { method: 'POST' });
    expect(fallback.status).toBe(202);
    expect(fallback.headers.get('location')).toMatch(new RegExp(`^/v2/${to}/blobs/uploads/`));
    const noFrom = await t.c.fetch(`/v2/${to}/blobs/uploads/?mount=${digest}`, { method: 'POST' });
    expect([201, 202]).toContain(noFrom.status);
    await expectError(
      await t.c.fetch(`/v2/${to}/blobs/uploads/?mount=sha256:zz&from=${from}`, { method: 'POST' }),
      400,
      'DIGEST_INVALID',
    );
    await expectError(
      await t.c.fetch(`/v2/${to}/blobs/uploads/?mount=${digest}&from=Bad..Name`, { method: 'POST' }),
      400,
      'NAME_INVALID',
    );
  });

  it('supports sha512 digests', async () => {
    const repo = repoName();
    const data = random(999);
    const location = await t.c.startUpload(repo);
    await t.c.fetch(location, { method: 'PATCH', body: data, headers: { 'Content-Range': '0-998' } });
    const r = await t.c.fetch(`${location}?digest=${sha512(data)}`, { method: 'PUT' });
    expect(r.status).toBe(201);
    expect(r.headers.get('docker-content-digest')).toBe(sha512(data));
    const g = await t.c.fetch(`/v2/${repo}/blobs/${sha512(data)}`);
    expect(g.headers.get('docker-content-digest')).toBe(sha512(data));
    expect(Buffer.from(await g.arrayBuffer()).equals(data)).toBe(true);
  });

  it('stores a pushed blob once, however many repositories push it', async () => {
    const data = random(2000);
    const a = repoName();
    const b = repoName();
    await t.c.pushBlob(a, data);
    await t.c.pushBlob(b, data);
    let copies = 0;
    for await (const blob of t.reg.registry.services.blobs.list()) if (blob.digest === sha256(data)) copies++;
    expect(copies).toBe(1);
  });

  it('stores manifests by tag and digest and serves them byte for byte', async () => {
    const repo = repoName();
    const img = await t.c.pushImage(repo, 'v1');
    for (const ref of ['v1', img.digest]) {
      const g = await t.c.fetch(`/v2/${repo}/manifests/${ref}`, { headers: { Accept: OCI_MANIFEST } });
      expect(g.status).toBe(200);
      expect(g.headers.get('content-type')).toBe(OCI_MANIFEST);
      expect(g.headers.get('docker-content-digest')).toBe(img.digest);
      expect(Buffer.from(await g.arrayBuffer()).equals(img.body)).toBe(true);
      const h = await t.c.fetch(`/v2/${repo}/manifests/${ref}`, { method: 'HEAD' });
      expect(h.status).toBe(200);
      expect(h.headers.get('content-length')).toBe(String(img.body.length));
      expect(h.headers.get('docker-content-digest')).toBe(img.digest);
    }
    const byDigest = await t.c.putManifest(repo, img.digest, img.body);
    expect(byDigest.status).toBe(201);
    expect(byDigest.headers.get('location')).toBe(`/v2/${repo}/manifests/${img.digest}`);
    expect(byDigest.headers.get('docker-content-digest')).toBe(img.digest);
  });

  it('refuses a manifest whose digest does not match the URL', async () => {
    const repo = repoName();
    const img = await t.c.pushImage(repo, 'v1');
    await expectError(await t.c.putManifest(repo, sha256('other'), img.body), 400, 'DIGEST_INVALID');
  });

  it('refuses a manifest that references blobs the repository lacks, storing nothing', async () => {
    const repo = repoName();
    const present = await t.c.pushBlob(repo, Buffer.from('{}'));
    const missing = sha256(random(10));
    const m = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: present, size: 2 },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: missing, size: 10 }],
    };
    const body = await expectError(await t.c.putManifest(repo, 'v1', m), 400, 'MANIFEST_BLOB_UNKNOWN');
    expect(JSON.stringify(body.errors[0]!.detail)).toContain(missing);
    await expectError(await t.c.fetch(`/v2/${repo}/manifests/v1`), 404, 'MANIFEST_UNKNOWN');
    // A blob visible in another repository does not count.
    const other = repoName();
    await t.c.pushBlob(other, Buffer.from('{}'));
    await expectError(
      await t.c.putManifest(other, 'v1', { ...m, layers: [], config: { ...m.config, digest: sha256(random(3)) } }),
      400,
      'MANIFEST_BLOB_UNKNOWN',
    );
  });

  it('refuses invalid and oversized manifests', async () => {
    const repo = repoName();
    await expectError(await t.c.putManifest(repo, 'v1', Buffer.from('{not json')), 400, 'MANIFEST_INVALID');
    await expectError(await t.c.putManifest(repo, 'v1', Buffer.from('[1,2]')), 400, 'MANIFEST_INVALID');
    await expectError(
      await t.c.putManifest(repo, 'v1', { schemaVersion: 2, mediaType: OCI_MANIFEST, layers: [] }),
      400,
      'MANIFEST_INVALID',
    );
    const huge = Buffer.from(
      JSON.stringify({ mediaType: 'application/vnd.example+json', pad: 'x'.repeat(4 * 1024 * 1024) }),
    );
    const r = await t.c.putManifest(repo, 'big', huge, 'application/vnd.example+json');
    await expectError(r, 413, 'MANIFEST_INVALID');
    await expectError(await t.c.fetch(`/v2/${repo}/manifests/big`), 404, ['MANIFEST_UNKNOWN', 'NAME_UNKNOWN']);
    await expectError(await t.c.putManifest(repo, 'bad tag!', { schemaVersion: 2 }), 400, 'TAG_INVALID');
  });

  it('accepts a manifest of exactly the 4 MiB limit', async () => {
    const repo = repoName();
    const prefix = '{"mediaType":"application/vnd.example+json","pad":"';
    const body = Buffer.from(prefix + 'x'.repeat(4 * 1024 * 1024 - prefix.length - 2) + '"}');
    expect(body.length).toBe(4 * 1024 * 1024);
    expect((await t.c.putManifest(repo, 'edge', body, 'application/vnd.example+json')).status).toBe(201);
  });

  it('stores Docker schema 2 manifests, manifest lists and OCI indexes, checking their children', async () => {
    const repo = repoName();
    const config = Buffer.from('{"architecture":"amd64"}');
    const layer = random(100);
    const cd = await t.c.pushBlob(repo, config);
    const ld = await t.c.pushBlob(repo, layer);
    const docker = {
      schemaVersion: 2,
      mediaType: DOCKER_MANIFEST,
      config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: cd, size: config.length },
      layers: [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', digest: ld, size: layer.length }],
    };
    const dr = await t.c.putManifest(repo, 'docker', docker, DOCKER_MANIFEST);
    expect(dr.status).toBe(201);
    const dd = dr.headers.get('docker-content-digest')!;
    const g = await t.c.fetch(`/v2/${repo}/manifests/docker`);
    expect(g.headers.get('content-type')).toBe(DOCKER_MANIFEST);
    const list = {
      schemaVersion: 2,
      mediaType: DOCKER_LIST,
      manifests: [
        {
          mediaType: DOCKER_MANIFEST,
          digest: dd,
          size: Number(g.headers.get('content-length')),
          platform: { architecture: 'amd64', os: 'linux' },
        },
      ],
    };
    expect((await t.c.putManifest(repo, 'list', list, DOCKER_LIST)).status).toBe(201);
    const index = {
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [{ mediaType: DOCKER_MANIFEST, digest: dd, size: 1 }],
    };
    expect((await t.c.putManifest(repo, 'index', index, OCI_INDEX)).status).toBe(201);
    expect((await t.c.fetch(`/v2/${repo}/manifests/index`)).headers.get('content-type')).toBe(OCI_INDEX);
    const missingChild = {
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: [{ mediaType: OCI_MANIFEST, digest: sha256(random(8)), size: 1 }],
    };
    await expectError(await t.c.putManifest(repo, 'broken', missingChild, OCI_INDEX), 400, [
      'MANIFEST_BLOB_UNKNOWN',
      'MANIFEST_UNKNOWN',
    ]);
  });

  it('stores a manifest of an unknown media type as given', async () => {
    const repo = repoName();
    const body = Buffer.from('{"mediaType":"application/vnd.example.model+json","weights":"elsewhere"}');
    const r = await t.c.putManifest(repo, 'x', body, 'application/vnd.example.model+json');
    expect(r.status).toBe(201);
    const g = await t.c.fetch(`/v2/${repo}/manifests/x`);
    expect(g.headers.get('content-type')).toBe('application/vnd.example.model+json');
    expect(Buffer.from(await g.arrayBuffer()).equals(body)).toBe(true);
  });

  it('answers OCI-Subject when the manifest has a subject, also before the subject exists', async () => {
    const repo = repoName();
    const subject = sha256(random(20));
    await t.c.pushBlob(repo, Buffer.from('{}'));
    const r = await t.c.putManifest(repo, 'sig', {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: 'application/vnd.example.sig',
      config: EMPTY_CONFIG,
      layers: [EMPTY_CONFIG],
      subject: { mediaType: OCI_MANIFEST, digest: subject, size: 100 },
    });
    expect(r.status).toBe(201);
    expect(r.headers.get('oci-subject')).toBe(subject);
  });
});
