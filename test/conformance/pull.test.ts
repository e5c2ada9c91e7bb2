import { expectError, profiles, random, rawRequest, repoName, sha256, useRegistry } from './client';

describe.each(profiles)('pull (%s)', (_name, profile) => {
  const t = useRegistry(profile);

  it('pulls a manifest and its blobs', async () => {
    const repo = repoName();
    const img = await t.c.pushImage(repo, 'latest');
    const m = await t.c.fetch(`/v2/${repo}/manifests/latest`);
    const manifest = JSON.parse(Buffer.from(await m.arrayBuffer()).toString()) as { layers: { digest: string }[] };
    const b = await t.c.fetch(`/v2/${repo}/blobs/${manifest.layers[0]!.digest}`);
    expect(b.status).toBe(200);
    expect(b.headers.get('content-type')).toBe('application/octet-stream');
    expect(b.headers.get('content-length')).toBe(String(img.layer.length));
    expect(b.headers.get('docker-content-digest')).toBe(img.layerDigest);
    expect(Buffer.from(await b.arrayBuffer()).equals(img.layer)).toBe(true);
  });

  it('serves single byte ranges with 206, and 416 for a range beyond the blob', async () => {
    const repo = repoName();
    const data = random(10_000);
    const d = await t.c.pushBlob(repo, data);
    const cases: [string, number, number][] = [
      ['bytes=0-99', 0, 99],
      ['bytes=9000-', 9000, 9999],
      ['bytes=-500', 9500, 9999],
      ['bytes=9990-20000', 9990, 9999],
    ];
    for (const [range, start, end] of cases) {
      const r = await t.c.fetch(`/v2/${repo}/blobs/${d}`, { headers: { Range: range } });
      expect(r.status).toBe(206);
      expect(r.headers.get('content-range')).toBe(`bytes ${start}-${end}/10000`);
      expect(r.headers.get('content-length')).toBe(String(end - start + 1));
      expect(Buffer.from(await r.arrayBuffer()).equals(data.subarray(start, end + 1))).toBe(true);
    }
    const bad = await t.c.fetch(`/v2/${repo}/blobs/${d}`, { headers: { Range: 'bytes=10000-' } });
    expect(bad.status).toBe(416);
    expect(bad.headers.get('content-range')).toBe('bytes */10000');
    // Several ranges: the whole blob, as RFC 9110 allows.
    const multi = await t.c.fetch(`/v2/${repo}/blobs/${d}`, { headers: { Range: 'bytes=0-1,5-6' } });
    expect(multi.status).toBe(200);
    expect(Buffer.from(await multi.arrayBuffer()).equals(data)).toBe(true);
  });

  it('answers MANIFEST_UNKNOWN, NAME_UNKNOWN and BLOB_UNKNOWN for what is not there', async () => {
    const repo = repoName();
    await t.c.pushImage(repo, 'v1');
    await expectError(await t.c.fetch(`/v2/${repo}/manifests/v2`), 404, 'MANIFEST_UNKNOWN');
    await expectError(await t.c.fetch(`/v2/${repo}/manifests/${sha256('x')}`), 404, 'MANIFEST_UNKNOWN');
    await expectError(await t.c.fetch(`/v2/${repoName('never')}/manifests/v1`), 404, 'NAME_UNKNOWN');
    await expectError(await t.c.fetch(`/v2/${repo}/blobs/${sha256('nothing')}`), 404, 'BLOB_UNKNOWN');
    const head = await t.c.fetch(`/v2/${repo}/blobs/${sha256('nothing')}`, { method: 'HEAD' });
    expect(head.status).toBe(404);
    expect(await head.text()).toBe('');
    const mhead = await t.c.fetch(`/v2/${repo}/manifests/nope`, { method: 'HEAD' });
    expect(mhead.status).toBe(404);
  });

  it('answers DIGEST_INVALID for malformed digests and NAME_INVALID for malformed names', async () => {
    const repo = repoName();
    for (const d of ['sha256:abc', 'sha256:' + 'G'.repeat(64), 'foo:bar', 'sha256:' + 'A'.repeat(64)]) {
      await expectError(await t.c.fetch(`/v2/${repo}/blobs/${d}`), 400, 'DIGEST_INVALID');
      await expectError(await t.c.fetch(`/v2/${repo}/manifests/${d}`), 400, 'DIGEST_INVALID');
    }
    for (const name of ['Upper/case', 'a/../b', 'a/./b', '-lead', 'trail-', 'dou//ble', 'x'.repeat(256), 'sp%20ace']) {
      await expectError(await rawRequest(t.reg.url, 'GET', `/v2/${name}/manifests/latest`), 400, 'NAME_INVALID');
      await expectError(await rawRequest(t.reg.url, 'POST', `/v2/${name}/blobs/uploads/`), 400, 'NAME_INVALID');
      await expectError(await rawRequest(t.reg.url, 'GET', `/v2/${name}/tags/list`), 400, 'NAME_INVALID');
      await expectError(
        await rawRequest(t.reg.url, 'GET', `/v2/${name}/referrers/${sha256('x')}`),
        400,
        'NAME_INVALID',
      );
    }
  });

  it('keeps repositories apart: a blob of one is unknown in another', async () => {
    const a = repoName();
    const b = repoName();
    const d = await t.c.pushBlob(a, random(10));
    await expectError(await t.c.fetch(`/v2/${b}/blobs/${d}`), 404, 'BLOB_UNKNOWN');
  });
});
