import { randomBytes, createHash } from 'node:crypto';
import { MissingReferences, type Catalog, type ManifestRecord } from '../../src/catalog/catalog';

export interface CatalogFixture {
  /** A catalog on the fixture's database; several calls share it (two replicas, two processes). */
  open(): Catalog;
  /**
   * Whether two instances may run in one process. better-sqlite3 is synchronous: a second connection in
   * the same thread waiting for the first one's lock blocks the thread the first needs to finish. SQLite
   * instances therefore share work through one instance here (separate processes are tested end to end).
   */
  concurrentInstances: boolean;
  cleanup(): Promise<void>;
}

const digestOf = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const randomDigest = () => digestOf(randomBytes(16));

function manifest(blobs: string[], extra: Partial<ManifestRecord> = {}): ManifestRecord {
  const content = Buffer.from(JSON.stringify({ blobs, nonce: randomBytes(4).toString('hex'), ...extra }));
  return {
    digest: digestOf(content),
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    size: content.length,
    content,
    blobs,
    manifests: [],
    ...extra,
  };
}

/** The behaviour every Catalog must have, on every database engine. */
export function catalogContract(name: string, make: () => Promise<CatalogFixture>): void {
  describe(`Catalog contract: ${name}`, () => {
    let f: CatalogFixture;
    let c: Catalog;
    const extra: Catalog[] = [];
    const another = async () => {
      if (!f.concurrentInstances) return c;
      const x = f.open();
      await x.init();
      extra.push(x);
      return x;
    };
    beforeAll(async () => {
      f = await make();
      c = f.open();
      await c.init();
    });
    afterAll(async () => {
      await Promise.all(extra.map((x) => x.close()));
      await c.close();
      await f.cleanup();
    });
    let n = 0;
    const repo = () => `contract/r${n++}`;

    it('links blobs per repository, idempotently', async () => {
      const a = repo();
      const b = repo();
      const d = randomDigest();
      expect(await c.getBlobLink(a, d)).toBeUndefined();
      await c.linkBlob(a, { digest: d, size: 42 });
      await c.linkBlob(a, { digest: d, size: 42 });
      expect(await c.getBlobLink(a, d)).toEqual({ digest: d, size: 42 });
      expect(await c.getBlobLink(b, d)).toBeUndefined();
      expect(await c.repositoryExists(a)).toBe(true);
      expect(await c.repositoryExists(b)).toBe(false);
      expect(await c.unlinkBlob(a, d)).toBe(true);
      expect(await c.unlinkBlob(a, d)).toBe(false);
      expect(await c.getBlobLink(a, d)).toBeUndefined();
    });

    it('writes no link when the commit step fails', async () => {
      const a = repo();
      const d = randomDigest();
      await expect(
        c.linkBlob(a, { digest: d, size: 1 }, async () => Promise.reject(new Error('disk full'))),
      ).rejects.toThrow('disk full');
      expect(await c.getBlobLink(a, d)).toBeUndefined();
    });

    it('stores manifests by digest and tag, moves tags, and round-trips 4 MiB byte-exact', async () => {
      const a = repo();
      const d = randomDigest();
      await c.linkBlob(a, { digest: d, size: 1 });
      const m1 = manifest([d]);
      await c.putManifest(a, m1, 'v1');
      expect(await c.getManifest(a, 'v1')).toEqual({
        digest: m1.digest,
        mediaType: m1.mediaType,
        size: m1.size,
        content: m1.content,
      });
      expect((await c.getManifest(a, m1.digest))!.digest).toBe(m1.digest);
      const m2 = manifest([d]);
      await c.putManifest(a, m2, 'v1');
      expect((await c.getManifest(a, 'v1'))!.digest).toBe(m2.digest);
      expect((await c.getManifest(a, m1.digest))!.digest).toBe(m1.digest);
      await c.putManifest(a, m2, 'v1');
      const big = Buffer.concat(
        [
          Buffer.from('{"x":"'),
          randomBytes(2 * 1024 * 1024)
            .toString('hex')
            .slice(0, 4 * 1024 * 1024 - 8) as unknown as Buffer,
          Buffer.from('"}'),
        ].map((x) => Buffer.from(x)),
      );
      const m3 = { ...manifest([]), content: big, size: big.length, digest: digestOf(big) };
      await c.putManifest(a, m3);
      expect((await c.getManifest(a, m3.digest))!.content.equals(big)).toBe(true);
      expect(await c.getManifest(a, 'nope')).toBeUndefined();
      expect(await c.getManifest(repo(), 'v1')).toBeUndefined();
    });

    it('lists the tags pointing at a manifest, and only those', async () => {
      const a = repo();
      const d = randomDigest();
      await c.linkBlob(a, { digest: d, size: 1 });
      const m1 = manifest([d]);
      const m2 = manifest([d]);
      await c.putManifest(a, m1, 'v1');
      await c.putManifest(a, m1, 'latest');
      await c.putManifest(a, m2, 'v2');
      expect(await c.tagsOf(a, m1.digest)).toEqual(['latest', 'v1']);
      await c.putManifest(a, m2, 'latest');
      expect(await c.tagsOf(a, m1.digest)).toEqual(['v1']);
      expect(await c.tagsOf(a, m2.digest)).toEqual(['latest', 'v2']);
      expect(await c.tagsOf(repo(), m2.digest)).toEqual([]);
    });

    it('refuses a manifest with missing references, writing nothing', async () => {
      const a = repo();
      const have = randomDigest();
      const missing = randomDigest();
      const child = randomDigest();
      await c.linkBlob(a, { digest: have, size: 1 });
      const m = manifest([have, missing]);
      const err = await c.putManifest(a, m, 'v1').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(MissingReferences);
      expect((err as MissingReferences).blobs).toEqual([missing]);
      expect(await c.getManifest(a, m.digest)).toBeUndefined();
      expect(await c.listTags(a, {})).toEqual([]);
      const index = { ...manifest([]), mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [child] };
      const err2 = await c.putManifest(a, index).catch((e: unknown) => e);
      expect((err2 as MissingReferences).manifests).toEqual([child]);
    });

    it('writes issued manifests with their blobs in one transaction: all of a batch, or none of it', async () => {
      const a = repo();
      const b = repo();
      const subject = randomDigest();
      const entry = (repository: string, commit?: () => Promise<void>) => {
        const blob = randomDigest();
        return {
          repository,
          blobs: [{ ref: { digest: blob, size: 3 }, ...(commit ? { commit } : {}) }],
          manifest: manifest([blob], { subject, artifactType: 'application/x-receipt' }),
        };
      };
      const committed: string[] = [];
      const batch = [entry(a, async () => void committed.push('a')), entry(b), entry(a)];
      await c.putIssued(batch);
      expect(committed).toEqual(['a']);
      for (const e of batch) {
        expect(await c.getBlobLink(e.repository, e.blobs[0]!.ref.digest)).toEqual(e.blobs[0]!.ref);
        expect((await c.getManifest(e.repository, e.manifest.digest))?.content).toEqual(e.manifest.content);
      }
      expect((await c.listReferrers(a, subject)).map((r) => r.digest).sort()).toEqual(
        [batch[0]!.manifest.digest, batch[2]!.manifest.digest].sort(),
      );

      // A failing commit in the middle leaves nothing of the batch: not the entries before it either.
      const failing = [
        entry(a),
        entry(b, async () => {
          throw new Error('bytes not stored');
        }),
        entry(a),
      ];
      await expect(c.putIssued(failing)).rejects.toThrow('bytes not stored');
      for (const e of failing) {
        expect(await c.getBlobLink(e.repository, e.blobs[0]!.ref.digest)).toBeUndefined();
        expect(await c.getManifest(e.repository, e.manifest.digest)).toBeUndefined();
      }
      // So does a manifest whose reference is missing.
      const dangling = [entry(b), { ...entry(b), blobs: [] }];
      await expect(c.putIssued(dangling)).rejects.toBeInstanceOf(MissingReferences);
      expect(await c.getManifest(b, dangling[0]!.manifest.digest)).toBeUndefined();
      await c.putIssued([]);
    });

    it('accepts an index whose children exist; deleting a manifest removes its tags and referrer entry', async () => {
      const a = repo();
      const d = randomDigest();
      await c.linkBlob(a, { digest: d, size: 1 });
      const child = manifest([d]);
      await c.putManifest(a, child);
      const index = {
        ...manifest([]),
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [child.digest],
      };
      await c.putManifest(a, index, 'latest');
      const ref = manifest([d], { subject: index.digest, artifactType: 'application/x.sig', annotations: { k: 'v' } });
      await c.putManifest(a, ref, 'sig');
      expect(await c.listReferrers(a, index.digest)).toEqual([
        {
          mediaType: ref.mediaType,
          digest: ref.digest,
          size: ref.size,
          artifactType: 'application/x.sig',
          annotations: { k: 'v' },
        },
      ]);
      expect(await c.deleteTag(a, 'latest')).toBe(true);
      expect(await c.deleteTag(a, 'latest')).toBe(false);
      expect((await c.getManifest(a, index.digest))!.digest).toBe(index.digest);
      expect(await c.deleteManifest(a, ref.digest)).toBe(true);
      expect(await c.deleteManifest(a, ref.digest)).toBe(false);
      expect(await c.listReferrers(a, index.digest)).toEqual([]);
      expect(await c.getManifest(a, 'sig')).toBeUndefined();
      expect(await c.listTags(a, {})).toEqual([]);
    });

    it('lists referrers before the subject exists, filtered by artifactType', async () => {
      const a = repo();
      const subject = randomDigest();
      const d = randomDigest();
      await c.linkBlob(a, { digest: d, size: 1 });
      const sig = manifest([d], { subject, artifactType: 'application/vnd.dev.sigstore.bundle.v0.3+json' });
      const sbom = manifest([d], { subject, artifactType: 'application/spdx+json' });
      const plain = manifest([d], { subject });
      delete (plain as Partial<ManifestRecord>).artifactType;
      await c.putManifest(a, sig);
      await c.putManifest(a, sbom);
      await c.putManifest(a, plain);
      expect((await c.listReferrers(a, subject)).map((r) => r.digest).sort()).toEqual(
        [sig.digest, sbom.digest, plain.digest].sort(),
      );
      expect((await c.listReferrers(a, subject, 'application/spdx+json')).map((r) => r.digest)).toEqual([sbom.digest]);
      expect(await c.listReferrers(a, subject, 'application/none')).toEqual([]);
      expect(await c.listReferrers(repo(), subject)).toEqual([]);
    });

    it('pages tags and repositories in bytewise order with n and last', async () => {
      const a = repo();
      const d = randomDigest();
      await c.linkBlob(a, { digest: d, size: 1 });
      const m = manifest([d]);
      const tags = ['b', 'A', 'a', '_x', 'Z9', 'a.1', 'a-1'];
      for (const t of tags) await c.putManifest(a, m, t);
      const sorted = [...tags].sort((x, y) => (Buffer.from(x) < Buffer.from(y) ? -1 : 1));
      expect(await c.listTags(a, {})).toEqual(sorted);
      expect(await c.listTags(a, { n: 3 })).toEqual(sorted.slice(0, 3));
      expect(await c.listTags(a, { n: 3, last: sorted[2] })).toEqual(sorted.slice(3, 6));
      expect(await c.listTags(a, { last: sorted[6] })).toEqual([]);
      const names = await c.listRepositories({});
      expect(names).toContain(a);
      expect(names).toEqual([...names].sort((x, y) => (Buffer.from(x) < Buffer.from(y) ? -1 : 1)));
      const firstTwo = await c.listRepositories({ n: 2 });
      expect(firstTwo).toEqual(names.slice(0, 2));
      expect(await c.listRepositories({ n: 2, last: firstTwo[1] })).toEqual(names.slice(2, 4));
    });

    it('tells where a blob is used: linking repositories, and referencing manifests with their tags', async () => {
      const a = repo();
      const b = repo();
      const shared = randomDigest();
      const other = randomDigest();
      for (const r of [a, b]) await c.linkBlob(r, { digest: shared, size: 1 });
      await c.linkBlob(a, { digest: other, size: 1 });
      const m1 = manifest([shared, other]);
      const m2 = manifest([shared]);
      await c.putManifest(a, m1, 'v1');
      await c.putManifest(a, m1, 'latest');
      await c.putManifest(b, m2);
      const usage = await c.blobUsage(shared);
      expect(usage.linkedIn).toEqual([a, b].sort());
      expect(usage.manifests).toHaveLength(2);
      expect(usage.manifests.find((m) => m.repository === a)).toEqual({
        repository: a,
        digest: m1.digest,
        tags: expect.arrayContaining(['v1', 'latest']),
      });
      expect(usage.manifests.find((m) => m.repository === b)).toEqual({ repository: b, digest: m2.digest, tags: [] });
      expect(await c.blobUsage(randomDigest())).toEqual({ linkedIn: [], manifests: [] });
    });

    it('sweeps only unreferenced links older than the cutoff', async () => {
      const a = repo();
      const used = randomDigest();
      const unused = randomDigest();
      await c.linkBlob(a, { digest: used, size: 1 });
      await c.linkBlob(a, { digest: unused, size: 1 });
      await c.putManifest(a, manifest([used]));
      expect(await c.sweepLinks(new Date(Date.now() - 60_000))).toBe(0);
      await new Promise((r) => setTimeout(r, 5));
      const removed = await c.sweepLinks(new Date());
      expect(removed).toBeGreaterThanOrEqual(1);
      expect(await c.getBlobLink(a, unused)).toBeUndefined();
      expect(await c.getBlobLink(a, used)).toBeDefined();
    });

    it('collects a blob only when unlinked and untouched since the cutoff, running remove under its lock', async () => {
      const a = repo();
      const d = randomDigest();
      await c.linkBlob(a, { digest: d, size: 1 });
      let removed = 0;
      const remove = async () => {
        removed++;
      };
      expect(await c.collectBlob(d, new Date(Date.now() + 1000), remove)).toBe(false);
      await c.unlinkBlob(a, d);
      expect(await c.collectBlob(d, new Date(Date.now() - 60_000), remove)).toBe(false);
      expect(removed).toBe(0);
      expect(await c.collectBlob(d, new Date(Date.now() + 1000), remove)).toBe(true);
      expect(removed).toBe(1);
      // A blob the catalog never heard of is collectable too.
      expect(await c.collectBlob(randomDigest(), new Date(Date.now() + 1000), remove)).toBe(true);
      // A failing remove keeps the row: nothing is lost on a storage error.
      const e = randomDigest();
      await expect(
        c.collectBlob(e, new Date(Date.now() + 1000), async () => Promise.reject(new Error('io'))),
      ).rejects.toThrow('io');
    });

    it('never ends with a link to removed bytes when linking races collection on two instances', async () => {
      const other = await another();
      const stored = new Set<string>();
      const a = repo();
      for (let i = 0; i < 30; i++) {
        const d = randomDigest();
        stored.add(d);
        await c.linkBlob(a, { digest: d, size: 1 });
        await c.unlinkBlob(a, d);
        const future = new Date(Date.now() + 60_000);
        await Promise.all([
          other.collectBlob(d, future, async () => {
            await new Promise((r) => setTimeout(r, 2));
            stored.delete(d);
          }),
          c.linkBlob(`${a}-x`, { digest: d, size: 1 }, async () => {
            stored.add(d);
          }),
        ]);
        // Whatever the order, a link implies bytes.
        if (await c.getBlobLink(`${a}-x`, d)) expect(stored.has(d)).toBe(true);
      }
    });

    it('grants a named lease to one holder at a time, renewable by it, free again on release or expiry', async () => {
      const other = await another();
      const name = `lease-${n++}`;
      expect(await c.acquireLease(name, 'a', 10_000)).toBe(true);
      expect(await other.acquireLease(name, 'b', 10_000)).toBe(false);
      expect(await c.acquireLease(name, 'a', 10_000)).toBe(true);
      await other.releaseLease(name, 'b');
      expect(await other.acquireLease(name, 'b', 10_000)).toBe(false);
      await c.releaseLease(name, 'a');
      expect(await other.acquireLease(name, 'b', 100)).toBe(true);
      await new Promise((r) => setTimeout(r, 150));
      expect(await c.acquireLease(name, 'a', 10_000)).toBe(true);
      const race = await Promise.all([
        c.acquireLease(`${name}-x`, 'p', 10_000),
        other.acquireLease(`${name}-x`, 'q', 10_000),
      ]);
      expect(race.filter(Boolean)).toHaveLength(1);
    });

    it('keeps a named cursor that every instance reads, undefined until written', async () => {
      const other = await another();
      const name = `cursor-${n++}`;
      expect(await c.readCursor(name)).toBeUndefined();
      await c.writeCursor(name, 41);
      expect(await other.readCursor(name)).toBe(41);
      await other.writeCursor(name, 2 ** 40);
      expect(await c.readCursor(name)).toBe(2 ** 40);
      expect(await c.readCursor(`${name}-other`)).toBeUndefined();
    });

    it('keeps one row when two instances push the same manifest and tag at once', async () => {
      const other = await another();
      const a = repo();
      const d = randomDigest();
      await c.linkBlob(a, { digest: d, size: 1 });
      const m = manifest([d]);
      await Promise.all([
        c.putManifest(a, m, 'v1'),
        other.putManifest(a, m, 'v1'),
        c.putManifest(a, m, 'v1'),
        other.putManifest(a, m, 'v1'),
      ]);
      expect(await c.listTags(a, {})).toEqual(['v1']);
      expect((await other.getManifest(a, 'v1'))!.digest).toBe(m.digest);
    });
  });
}
