import {
  EMPTY_CONFIG,
  OCI_INDEX,
  OCI_MANIFEST,
  expectError,
  profiles,
  repoName,
  sha256,
  random,
  useRegistry,
} from './client';

describe.each(profiles)('content discovery (%s)', (_name, profile) => {
  const t = useRegistry(profile);

  it('lists tags in order, paginated with n, last and a Link header', async () => {
    const repo = repoName();
    const img = await t.c.pushImage(repo, 'v0');
    const tags = ['v0', 'v1', 'v2', 'latest', 'A', 'b_1'];
    for (const tag of tags.slice(1)) expect((await t.c.putManifest(repo, tag, img.body)).status).toBe(201);
    const sorted = [...tags].sort();
    const all = await t.c.fetch(`/v2/${repo}/tags/list`);
    expect(all.status).toBe(200);
    expect(await all.json()).toEqual({ name: repo, tags: sorted });
    expect(all.headers.get('link')).toBeNull();
    const seen: string[] = [];
    let next: string | null = `/v2/${repo}/tags/list?n=2`;
    let pages = 0;
    while (next) {
      const r = await t.c.fetch(next);
      expect(r.status).toBe(200);
      const body = (await r.json()) as { tags: string[] };
      expect(body.tags.length).toBeLessThanOrEqual(2);
      seen.push(...body.tags);
      const link = r.headers.get('link');
      next = link ? /^<([^>]+)>; rel="next"$/.exec(link)![1]! : null;
      pages++;
    }
    expect(seen).toEqual(sorted);
    expect(pages).toBe(3);
    const afterLast = await t.c.fetch(`/v2/${repo}/tags/list?last=${sorted[3]}`);
    expect(((await afterLast.json()) as { tags: string[] }).tags).toEqual(sorted.slice(4));
    const none = await t.c.fetch(`/v2/${repo}/tags/list?n=0`);
    expect(((await none.json()) as { tags: string[] }).tags).toEqual([]);
    await expectError(await t.c.fetch(`/v2/${repoName('never')}/tags/list`), 404, 'NAME_UNKNOWN');
    await expectError(await t.c.fetch(`/v2/${repo}/tags/list?n=abc`), 400, 'PAGINATION_NUMBER_INVALID');
  });

  it('lists referrers from the subject index, with artifactType, annotations and filtering', async () => {
    const repo = repoName();
    const subject = await t.c.pushImage(repo, 'v1');
    await t.c.pushBlob(repo, Buffer.from('{}'));
    const empty = await t.c.fetch(`/v2/${repo}/referrers/${subject.digest}`);
    expect(empty.status).toBe(200);
    expect(empty.headers.get('content-type')).toBe(OCI_INDEX);
    // A fresh manifest has no referrers: the registry's signed receipt of its push is served at
    // /_cairn/receipts/, not in the list of what clients pushed (docs/signing.md).
    const fresh = (await empty.json()) as {
      schemaVersion: number;
      mediaType: string;
      manifests: { artifactType: string }[];
    };
    expect(fresh).toEqual({ schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] });

    const sub = { mediaType: OCI_MANIFEST, digest: subject.digest, size: subject.body.length };
    const sig = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
      config: EMPTY_CONFIG,
      layers: [EMPTY_CONFIG],
      subject: sub,
      annotations: { 'org.opencontainers.image.created': '2026-11-24T00:00:00Z' },
    };
    const sbomConfig = Buffer.from('{"sbom":true}');
    const sbomConfigDigest = await t.c.pushBlob(repo, sbomConfig);
    // No artifactType: the config's media type stands in for it.
    const sbom = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/spdx+json', digest: sbomConfigDigest, size: sbomConfig.length },
      layers: [],
      subject: sub,
    };
    const idx = {
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      artifactType: 'application/vnd.example.bundle',
      manifests: [sub],
      subject: sub,
    };
    const rs = await t.c.putManifest(repo, sha256(JSON.stringify(sig)), Buffer.from(JSON.stringify(sig)));
    expect(rs.status).toBe(201);
    expect(rs.headers.get('oci-subject')).toBe(subject.digest);
    expect((await t.c.putManifest(repo, 'sbom', sbom)).status).toBe(201);
    expect((await t.c.putManifest(repo, 'idx', idx, OCI_INDEX)).status).toBe(201);

    const r = await t.c.fetch(`/v2/${repo}/referrers/${subject.digest}`);
    const body = (await r.json()) as {
      manifests: { digest: string; artifactType?: string; annotations?: object; mediaType: string; size: number }[];
    };
    expect(r.headers.get('oci-filters-applied')).toBeNull();
    expect(body.manifests).toHaveLength(3);
    const byType = new Map(body.manifests.map((m) => [m.artifactType, m]));
    expect(byType.get('application/vnd.dev.sigstore.bundle.v0.3+json')).toEqual({
      mediaType: OCI_MANIFEST,
      digest: sha256(JSON.stringify(sig)),
      size: Buffer.byteLength(JSON.stringify(sig)),
      artifactType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
      annotations: { 'org.opencontainers.image.created': '2026-11-24T00:00:00Z' },
    });
    expect(byType.get('application/spdx+json')!.digest).toBe(sha256(JSON.stringify(sbom)));
    expect(byType.get('application/vnd.example.bundle')!.mediaType).toBe(OCI_INDEX);

    const filtered = await t.c.fetch(`/v2/${repo}/referrers/${subject.digest}?artifactType=application/spdx%2Bjson`);
    expect(filtered.headers.get('oci-filters-applied')).toBe('artifactType');
    expect(((await filtered.json()) as { manifests: { digest: string }[] }).manifests.map((m) => m.digest)).toEqual([
      sha256(JSON.stringify(sbom)),
    ]);

    // Deleting a referrer takes it out of the list.
    expect(
      (await t.c.fetch(`/v2/${repo}/manifests/${sha256(JSON.stringify(sbom))}`, { method: 'DELETE' })).status,
    ).toBe(202);
    const after = (await (await t.c.fetch(`/v2/${repo}/referrers/${subject.digest}`)).json()) as {
      manifests: { artifactType?: string }[];
    };
    expect(after.manifests).toHaveLength(2);
    await expectError(await t.c.fetch(`/v2/${repo}/referrers/sha256:nothex`), 400, 'DIGEST_INVALID');
  });

  it('lists referrers pushed before their subject', async () => {
    const repo = repoName();
    await t.c.pushBlob(repo, Buffer.from('{}'));
    const subject = sha256(random(30));
    const ref = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: 'application/x.early',
      config: EMPTY_CONFIG,
      layers: [EMPTY_CONFIG],
      subject: { mediaType: OCI_MANIFEST, digest: subject, size: 30 },
    };
    expect((await t.c.putManifest(repo, 'early', ref)).status).toBe(201);
    const body = (await (await t.c.fetch(`/v2/${repo}/referrers/${subject}`)).json()) as {
      manifests: { artifactType: string }[];
    };
    expect(body.manifests.map((m) => m.artifactType)).toEqual(['application/x.early']);
  });

  it('lists repositories in the catalog, paginated', async () => {
    const prefix = `cat${Date.now().toString(36)}`;
    const names = [`${prefix}/a`, `${prefix}/b`, `${prefix}/c`];
    for (const n of names) await t.c.pushImage(n, 'v1');
    const all = (await (await t.c.fetch('/v2/_catalog')).json()) as { repositories: string[] };
    for (const n of names) expect(all.repositories).toContain(n);
    expect(all.repositories).toEqual([...all.repositories].sort());
    const first = await t.c.fetch(`/v2/_catalog?n=1&last=${encodeURIComponent(names[0]!)}`);
    expect(((await first.json()) as { repositories: string[] }).repositories).toEqual([names[1]]);
    expect(first.headers.get('link')).toBe(`</v2/_catalog?n=1&last=${encodeURIComponent(names[1]!)}>; rel="next"`);
  });
});
