import { createHash, randomBytes } from 'node:crypto';
import type { ArtifactRecord, Catalog } from '../../src/catalog/catalog';
import type { ArtifactIndex } from '../../src/catalog/artifact-index';
import { createArtifactIndex } from '../../src/catalog';

const digestOf = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

function record(over: Partial<ArtifactRecord> = {}): ArtifactRecord {
  return {
    kind: 'model',
    family: 'modelpack',
    name: 'm',
    framework: 'pytorch',
    license: 'MIT',
    pushedBy: 'user:alice',
    totalSize: 10,
    metadata: '{"metrics":{}}',
    annotations: {},
    metrics: {},
    edges: [],
    ...over,
  };
}

/** The behaviour every ArtifactIndex must have, on every database engine. */
export function artifactIndexContract(
  name: string,
  make: () => Promise<{ catalog: Catalog; cleanup: () => Promise<void> }>,
): void {
  describe(`ArtifactIndex contract: ${name}`, () => {
    let catalog: Catalog;
    let index: ArtifactIndex;
    let cleanup: () => Promise<void>;
    const put = async (repository: string, a: Partial<ArtifactRecord> = {}, tag?: string): Promise<string> => {
      const content = Buffer.from(JSON.stringify({ nonce: randomBytes(6).toString('hex') }));
      const digest = digestOf(content);
      await catalog.putManifest(
        repository,
        {
          digest,
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          size: content.length,
          content,
          blobs: [],
          manifests: [],
          artifact: record(a),
        },
        tag,
      );
      return digest;
    };
    beforeAll(async () => {
      ({ catalog, cleanup } = await make());
      await catalog.init();
      index = createArtifactIndex(catalog);
    });
    afterAll(async () => {
      await catalog.close();
      await cleanup();
    });

    it('stores an artifact with its manifest, in draft, and forgets it with the manifest', async () => {
      const d = await put('c/one', { name: 'one', sensitivity: 'sensitive' }, 'v1');
      const a = await index.get('c/one', d);
      expect(a).toMatchObject({
        repository: 'c/one',
        digest: d,
        kind: 'model',
        name: 'one',
        stage: 'draft',
        pushedBy: 'user:alice',
        sensitivity: 'sensitive',
        compromised: null,
        metadata: { metrics: {} },
      });
      expect(await index.tags('c/one', d)).toEqual(['v1']);
      expect(await catalog.getManifest('c/one', 'v1')).toMatchObject({ stage: 'draft' });
      await catalog.deleteManifest('c/one', d);
      expect(await index.get('c/one', d)).toBeUndefined();
    });

    it('moves stages by compare and set, records approvals once per identity, clears them on request', async () => {
      const d = await put('c/life');
      expect(await index.transition('c/life', d, { from: 'candidate', to: 'approved', by: 'x' })).toBe(false);
      expect(
        await index.transition('c/life', d, { from: 'draft', to: 'candidate', by: 'user:alice', reason: 'ready' }),
      ).toBe(true);
      const id = (await index.get('c/life', d))!.id;
      expect(
        await index.transition('c/life', d, {
          from: 'candidate',
          to: 'candidate',
          by: 'user:bob',
          approval: 'user:bob',
        }),
      ).toBe(true);
      await expect(
        index.transition('c/life', d, { from: 'candidate', to: 'candidate', by: 'user:bob', approval: 'user:bob' }),
      ).rejects.toThrow();
      expect(await index.approvals(id)).toEqual(['user:bob']);
      expect((await index.get('c/life', d))!.stageReason).toBe('ready');
      expect(
        await index.transition('c/life', d, { from: 'candidate', to: 'draft', by: 'user:alice', clearApprovals: true }),
      ).toBe(true);
      expect(await index.approvals(id)).toEqual([]);
      // Two movers at once: exactly one wins.
      const results = await Promise.all([
        index.transition('c/life', d, { from: 'draft', to: 'candidate', by: 'a' }),
        index.transition('c/life', d, { from: 'draft', to: 'retired', by: 'b' }),
      ]);
      expect(results.filter(Boolean)).toHaveLength(1);
    });

    it('answers lineage both ways, across repositories', async () => {
      const ds = await put('c/data', { kind: 'dataset', family: 'cairn-dataset' });
      const m = await put('c/model', {
        edges: [
          { relation: 'trained-on', repository: 'c/data', digest: ds },
          { relation: 'trained-on', digest: 'sha256:' + 'e'.repeat(64) },
        ],
      });
      const from = await index.edgesFrom([{ repository: 'c/model', digest: m }]);
      expect(from).toEqual(
        [
          {
            from: { repository: 'c/model', digest: m },
            relation: 'trained-on',
            to: { repository: 'c/data', digest: ds },
          },
          {
            from: { repository: 'c/model', digest: m },
            relation: 'trained-on',
            to: { digest: 'sha256:' + 'e'.repeat(64) },
          },
        ].sort((a, b) => a.to.digest.localeCompare(b.to.digest)),
      );
      expect((await index.edgesTo([ds])).map((e) => e.from)).toEqual([{ repository: 'c/model', digest: m }]);
      expect((await index.byDigests([ds, m])).map((a) => a.repository).sort()).toEqual(['c/data', 'c/model']);
      // A dataset something names is never a stale draft.
      expect((await index.staleDrafts(Date.now() + 1000, 100)).map((a) => a.digest)).not.toContain(ds);
      expect((await index.staleDrafts(Date.now() + 1000, 100)).map((a) => a.digest)).toContain(m);
    });

    it('answers side filters the same whether they drive the query or are checked per artifact', async () => {
      const ds = await put('p/data', { kind: 'dataset' });
      for (let i = 0; i < 5; i++)
        await put(`p/m${i}`, {
          name: `resnet-${i}`,
          metrics: { acc: i / 10 },
          annotations: { team: i % 2 ? 'x' : 'y' },
          edges: i < 3 ? [{ relation: 'trained-on', digest: ds }] : [],
        });
      const broad = createArtifactIndex(catalog, { selectiveBelow: 1 });
      const narrow = createArtifactIndex(catalog, { selectiveBelow: 1_000_000 });
      const queries: Parameters<ArtifactIndex['search']>[0][] = [
        { text: 'resnet', limit: 10 },
        { text: 'res 3', limit: 10 },
        { metrics: [{ name: 'acc', op: '>=', value: 0.2 }], limit: 10 },
        { annotations: [{ key: 'team', value: 'x' }], metrics: [{ name: 'acc', op: '<', value: 0.35 }], limit: 10 },
        { references: ds, limit: 2 },
        { references: ds, text: 'p', limit: 10, after: 0 },
      ];
      for (const q of queries) {
        const a = (await broad.search({ repository: 'p/', ...q })).map((x) => x.repository);
        const b = (await narrow.search({ repository: 'p/', ...q })).map((x) => x.repository);
        expect([q, a]).toEqual([q, b]);
        expect(a.length).toBeGreaterThan(0);
      }
      expect((await broad.search({ repository: 'p/', text: 'res 3', limit: 10 })).map((x) => x.name)).toEqual([
        'resnet-3',
      ]);
      expect((await broad.search({ repository: 'p/', references: ds, limit: 10 })).map((x) => x.repository)).toEqual([
        'p/m0',
        'p/m1',
        'p/m2',
      ]);
    });

    it('searches by every indexed field, pages by cursor, and reports namespace usage', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 4; i++)
        ids.push(
          await put(`s/r${i}`, {
            name: `net-${i}`,
            framework: i % 2 ? 'jax' : 'pytorch',
            license: i < 2 ? 'MIT' : 'Apache-2.0',
            annotations: { team: i < 2 ? 'a' : 'b' },
            metrics: { acc: 0.5 + i / 10 },
          }),
        );
      const names = async (q: Parameters<ArtifactIndex['search']>[0]) =>
        (await index.search({ repository: 's/', ...q })).map((a) => a.name);
      expect(await names({ limit: 10 })).toEqual(['net-0', 'net-1', 'net-2', 'net-3']);
      expect(await names({ framework: 'jax', limit: 10 })).toEqual(['net-1', 'net-3']);
      expect(await names({ license: 'MIT', limit: 10 })).toEqual(['net-0', 'net-1']);
      expect(await names({ annotations: [{ key: 'team', value: 'b' }], limit: 10 })).toEqual(['net-2', 'net-3']);
      expect(await names({ annotations: [{ key: 'team' }], limit: 10 })).toHaveLength(4);
      expect(await names({ metrics: [{ name: 'acc', op: '>=', value: 0.7 }], limit: 10 })).toEqual(['net-2', 'net-3']);
      expect(await names({ text: 'NET-2', limit: 10 })).toEqual(['net-2']);
      expect(await names({ text: '%', limit: 10 })).toEqual([]);
      const page1 = await index.search({ repository: 's/', limit: 3 });
      const page2 = await index.search({ repository: 's/', limit: 3, after: page1[2]!.id });
      expect(page2.map((a) => a.name)).toEqual(['net-3']);
      expect(await index.markCompromised('s/r0', ids[0]!, 'bad', 1)).toBe(true);
      expect(await names({ compromised: true, limit: 10 })).toEqual(['net-0']);
      expect(await index.usage('s/')).toEqual({ bytes: 0, artifacts: 4 });
      await catalog.linkBlob('s/r0', { digest: digestOf(Buffer.from('b')), size: 1234 });
      expect((await index.usage('s/')).bytes).toBe(1234);
      expect(await index.usage('s/r')).toEqual({ bytes: 1234, artifacts: 4 });
      expect(await index.usage('nothing/')).toEqual({ bytes: 0, artifacts: 0 });
    });
  });
}
