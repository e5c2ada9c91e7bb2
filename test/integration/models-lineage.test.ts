import { readFileSync } from 'node:fs';
import path from 'node:path';
import { startTestRegistry, type TestRegistry } from '../helpers/server';
import { MODEL_CONFIG, modelConfig, pushArtifact, pushDataset, pushModel, sha256 } from '../helpers/ml-artifacts';

type Json = Record<string, any>;

const profiles = [
  { database: 'sqlite', sessions: 'memory' },
  { database: 'postgres', sessions: 'redis' },
] as const;

describe.each(profiles)('models, datasets and lineage (%o)', (profile) => {
  let reg: TestRegistry;
  let base: string;
  const get = async (p: string): Promise<{ status: number; body: Json; headers: Headers }> => {
    const r = await fetch(`${base}${p}`);
    return { status: r.status, body: (await r.json()) as Json, headers: r.headers };
  };
  beforeAll(async () => {
    reg = await startTestRegistry({ ...profile });
    base = reg.url;
  });
  afterAll(async () => reg.close());

  it('serves the config schemas published in docs/schemas', async () => {
    const list = await get('/v2/_cairn/schemas');
    expect(list.status).toBe(200);
    expect(list.body.schemas.map((s: Json) => s.mediaType)).toEqual(
      expect.arrayContaining([
        MODEL_CONFIG,
        'application/vnd.cairn.dataset.config.v1+json',
        'application/vnd.cnai.model.config.v1+json',
      ]),
    );
    for (const s of list.body.schemas as Json[]) {
      const r = await fetch(`${base}${s.url}`);
      expect(r.headers.get('content-type')).toBe('application/schema+json');
      expect(await r.text()).toBe(
        readFileSync(path.join(__dirname, '../../docs/schemas', path.basename(s.url)), 'utf8'),
      );
    }
    expect((await fetch(`${base}/v2/_cairn/schemas/..%2fpackage.json`)).status).toBe(404);
  });

  it('refuses an invalid config of a known type with MANIFEST_INVALID naming the field, and stores nothing', async () => {
    const bad = await pushModel(
      base,
      'val/m',
      'v1',
      {},
      {},
      { descriptor: { name: 'x', licenses: 'MIT' }, config: {}, modelfs: { type: 'layers', diff_ids: [] } },
    );
    expect(bad.status).toBe(400);
    const err = JSON.parse(bad.body).errors[0];
    expect(err.code).toBe('MANIFEST_INVALID');
    expect(err.detail.field).toBe('/descriptor/licenses');
    expect(err.message).toMatch(/descriptor\/licenses must be array/);
    expect((await fetch(`${base}/v2/val/m/manifests/v1`)).status).toBe(404);

    const unknownField = await pushModel(base, 'val/m', 'v1', {}, {}, { ...modelConfig('x'), trainingData: 'x' });
    expect(JSON.parse(unknownField.body).errors[0].detail.field).toBe('/trainingData');
    const missing = await pushDataset(base, 'val/d', 'v1', { description: 'no name' });
    expect(missing.status).toBe(400);
    expect(JSON.parse(missing.body).errors[0].detail.field).toBe('/name');
    const notJson = await pushModel(base, 'val/m', 'v1', {}, {}, '{not json');
    expect(JSON.parse(notJson.body).errors[0].code).toBe('MANIFEST_INVALID');
    const badRef = await pushModel(base, 'val/m', 'v1', { 'org.cairn.datasets': 'imagenet:latest' });
    expect(JSON.parse(badRef.body).errors[0].detail.field).toBe('annotations/org.cairn.datasets');
    const badMetric = await pushModel(base, 'val/m', 'v1', { 'org.cairn.metrics': '{"accuracy":"high"}' });
    expect(JSON.parse(badMetric.body).errors[0].detail.field).toBe('annotations/org.cairn.metrics/accuracy');
  });

  it('indexes ModelPack (both names), KitOps and Docker model artifacts alike', async () => {
    const cnai = await pushArtifact(base, 'eco/cnai', 'v1', {
      artifactType: 'application/vnd.cnai.model.manifest.v1+json',
      configMediaType: 'application/vnd.cnai.model.config.v1+json',
      config: modelConfig('old-name'),
      layerMediaType: 'application/vnd.cnai.model.weight.v1.tar',
    });
    const kit = await pushArtifact(base, 'eco/kit', 'v1', {
      configMediaType: 'application/vnd.kitops.modelkit.config.v1+json',
      config: {
        manifestVersion: '1.0',
        package: { name: 'kit-model', version: '2.0', license: 'MIT', authors: ['kit'] },
        model: { name: 'm', path: 'model.gguf', framework: 'llama.cpp' },
      },
      layerMediaType: 'application/vnd.kitops.modelkit.model.v1.tar',
    });
    const docker = await pushArtifact(base, 'eco/docker', 'v1', {
      configMediaType: 'application/vnd.docker.ai.model.config.v0.1+json',
      config: { config: { format: 'gguf', architecture: 'llama', parameters: '8B' } },
      layerMediaType: 'application/vnd.docker.ai.gguf.v3',
    });
    for (const p of [cnai, kit, docker]) expect(p.status).toBe(201);
    const k = (await get(`/v2/eco/kit/_cairn/artifacts/v1`)).body;
    expect(k).toMatchObject({
      kind: 'model',
      family: 'kitops',
      name: 'kit-model',
      version: '2.0',
      framework: 'llama.cpp',
      license: 'MIT',
    });
    expect((await get(`/v2/eco/cnai/_cairn/artifacts/v1`)).body).toMatchObject({
      kind: 'model',
      family: 'modelpack-cnai',
      name: 'old-name',
    });
    expect((await get(`/v2/eco/docker/_cairn/artifacts/v1`)).body).toMatchObject({
      kind: 'model',
      family: 'docker-ai',
      framework: 'gguf',
    });
    const files = (await get(`/v2/eco/cnai/_cairn/artifacts/v1`)).body.metadata.files;
    expect(files[0].path).toBe('weights.bin');
  });

  it('records lineage from a model to two datasets and a base model, answers both ways, and the impact of a compromised dataset', async () => {
    const raw = await pushDataset(base, 'data/raw', 'v1', {
      name: 'raw-images',
      licenses: ['CC-BY-4.0'],
      sources: [{ uri: 's3://bucket/raw/' }],
    });
    const clean = await pushDataset(base, 'data/clean', 'v1', {
      name: 'clean-images',
      derivedFrom: [`data/raw@${raw.digest}`],
      preprocessing: [{ name: 'dedupe' }, { name: 'resize', code: 'git@x:prep.git' }],
    });
    const labels = await pushDataset(base, 'data/labels', 'v1', { name: 'labels', licenses: ['MIT'] });
    const baseModel = await pushModel(base, 'models/base', 'v1', { 'org.cairn.datasets': `data/raw@${raw.digest}` });
    const model = await pushModel(base, 'models/classifier', 'v1', {
      'org.cairn.datasets': `data/clean@${clean.digest}, ${labels.digest}`,
      'org.cairn.base-model': `models/base@${baseModel.digest}`,
      'org.cairn.metrics': '{"accuracy":0.94,"f1":0.91}',
      'org.cairn.training.repository': 'https://git.example/ml/classifier',
      'org.cairn.training.commit': 'abc123',
      'org.cairn.pipeline.url': 'https://ci.example/runs/77',
      'org.cairn.pipeline.id': '77',
      'org.opencontainers.image.licenses': 'Apache-2.0',
    });
    const finetuned = await pushModel(base, 'models/finetuned', 'v1', {
      'org.cairn.base-model': `models/classifier@${model.digest}`,
    });
    const unrelated = await pushModel(base, 'models/unrelated', 'v1', { 'org.cairn.datasets': labels.digest });
    for (const p of [raw, clean, labels, baseModel, model, finetuned, unrelated])
      expect([p.status, p.body]).toEqual([201, '']);

    const meta = (await get(`/v2/models/classifier/_cairn/artifacts/${model.digest}`)).body;
    expect(meta).toMatchObject({ kind: 'model', stage: 'draft', license: 'Apache-2.0', tags: ['v1'] });
    expect(meta.metadata).toMatchObject({
      metrics: { accuracy: 0.94, f1: 0.91 },
      trainingCode: { repository: 'https://git.example/ml/classifier', commit: 'abc123' },
      pipeline: { url: 'https://ci.example/runs/77', id: '77' },
    });
    expect(meta.upstream).toEqual(
      expect.arrayContaining([
        { relation: 'trained-on', repository: 'data/clean', digest: clean.digest },
        { relation: 'trained-on', digest: labels.digest },
        { relation: 'fine-tuned-from', repository: 'models/base', digest: baseModel.digest },
      ]),
    );

    // Upstream: depth 1 is what the model names; depth 2 reaches the raw data behind the clean set.
    const up1 = (await get(`/v2/models/classifier/_cairn/lineage/v1?direction=upstream&depth=1`)).body.upstream;
    expect(up1.nodes.map((n: Json) => n.repository).sort()).toEqual([
      'data/clean',
      'data/labels',
      'models/base',
      'models/classifier',
    ]);
    expect(up1.truncated).toBe(true);
    const up2 = (await get(`/v2/models/classifier/_cairn/lineage/v1?direction=upstream&depth=2`)).body.upstream;
    expect(up2.nodes.find((n: Json) => n.repository === 'data/raw')).toMatchObject({
      depth: 2,
      kind: 'dataset',
      name: 'raw-images',
    });
    // Downstream from the raw data: the clean set and the base model, then the classifier, then its fine-tune.
    const down = (await get(`/v2/data/raw/_cairn/lineage/v1?direction=downstream&depth=10`)).body.downstream;
    expect(Object.fromEntries(down.nodes.map((n: Json) => [n.repository, n.depth]))).toEqual({
      'data/raw': 0,
      'data/clean': 1,
      'models/base': 1,
      'models/classifier': 2,
      'models/finetuned': 3,
    });
    expect(down.truncated).toBe(false);

    // Mark the raw dataset compromised; the impact query names every model trained on it, directly or not.
    const flagged = await fetch(`${base}/v2/data/raw/_cairn/compromised/v1`, {
      method: 'POST',
      body: JSON.stringify({ reason: 'poisoned labels reported' }),
    });
    expect(flagged.status).toBe(200);
    const impact = (await get(`/v2/data/raw/_cairn/impact/v1`)).body;
    expect(impact.artifact.compromised.reason).toBe('poisoned labels reported');
    expect(impact.artifact.events.map((e: Json) => e.type)).toEqual(
      expect.arrayContaining(['manifest.push', 'artifact.compromised']),
    );
    const affected = Object.fromEntries(impact.affected.map((a: Json) => [a.repository, a]));
    expect(Object.keys(affected).sort()).toEqual([
      'data/clean',
      'models/base',
      'models/classifier',
      'models/finetuned',
    ]);
    expect(impact.models).toBe(3);
    expect(affected['models/finetuned'].via).toEqual([
      { relation: 'fine-tuned-from', to: { repository: 'models/classifier', digest: model.digest } },
    ]);
    expect(affected['models/classifier'].events.map((e: Json) => e.type)).toContain('manifest.push');
    expect(affected['models/unrelated']).toBeUndefined();

    // Search answers the same questions from indexes.
    const trainedOnLabels = (await get(`/v2/_cairn/search?references=${labels.digest}`)).body.artifacts
      .map((a: Json) => a.repository)
      .sort();
    expect(trainedOnLabels).toEqual(['models/classifier', 'models/unrelated']);
    expect((await get('/v2/_cairn/search?compromised=true')).body.artifacts.map((a: Json) => a.repository)).toEqual([
      'data/raw',
    ]);
  });

  it("records a referrer's subject as an edge", async () => {
    const model = await pushModel(base, 'ref/m', 'v1');
    const sig = await pushArtifact(base, 'ref/m', sha256('sig').replace(':', '-').slice(0, 20), {
      artifactType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
      configMediaType: 'application/vnd.oci.empty.v1+json',
      config: {},
      subject: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: model.digest, size: 1 },
    });
    expect(sig.status).toBe(201);
    const down = (await get(`/v2/ref/m/_cairn/lineage/v1?direction=downstream`)).body.downstream;
    expect(down.edges).toEqual([
      { from: { repository: 'ref/m', digest: sig.digest }, relation: 'subject', to: { digest: model.digest } },
    ]);
    expect(down.nodes.find((n: Json) => n.digest === sig.digest).kind).toBe('signature');
  });

  it('searches by name, kind, framework, licence, stage, annotation and metric, a page at a time', async () => {
    for (let i = 0; i < 5; i++) {
      const r = await pushModel(base, `search/m${i}`, 'v1', {
        'org.cairn.metrics': JSON.stringify({ accuracy: 0.8 + i * 0.04 }),
        'org.cairn.framework': i % 2 ? 'jax' : 'pytorch',
        'org.cairn.team': i < 3 ? 'vision' : 'nlp',
      });
      expect(r.status).toBe(201);
    }
    const names = async (q: string) =>
      (await get(`/v2/_cairn/search?repository=search/&${q}`)).body.artifacts.map((a: Json) => a.repository);
    expect(await names('framework=jax')).toEqual(['search/m1', 'search/m3']);
    expect(await names('metric=accuracy>=0.9')).toEqual(['search/m3', 'search/m4']);
    expect(await names('metric=accuracy>=0.85&framework=pytorch')).toEqual(['search/m2', 'search/m4']);
    expect(await names('annotation=org.cairn.team=nlp')).toEqual(['search/m3', 'search/m4']);
    expect(await names('q=M2')).toEqual(['search/m2']);
    expect(await names('kind=model&stage=draft&license=Apache-2.0')).toHaveLength(5);
    expect(await names('kind=dataset')).toEqual([]);
    expect(await names('kind=dataset,model')).toHaveLength(5);
    expect(await names('kind=dataset,image')).toEqual([]);

    const first = await get('/v2/_cairn/search?repository=search/&n=2');
    expect(first.body.artifacts).toHaveLength(2);
    const link = first.headers.get('link')!;
    expect(link).toMatch(/rel="next"/);
    const second = await get(link.slice(1, link.indexOf('>')));
    expect(second.body.artifacts.map((a: Json) => a.repository)).toEqual(['search/m2', 'search/m3']);
    const third = await get(`/v2/_cairn/search?repository=search/&n=2&last=${second.body.next}`);
    expect(third.body.artifacts.map((a: Json) => a.repository)).toEqual(['search/m4']);
    expect(third.body.next).toBeUndefined();

    for (const bad of [
      'metric=accuracy~1',
      'stage=shipped',
      'n=abc',
      'last=x',
      'references=sha256:zz',
      'compromised=maybe',
    ]) {
      const r = await get(`/v2/_cairn/search?${bad}`);
      expect([bad, r.status, r.body.errors[0].code]).toEqual([bad, 400, 'PARAMETER_INVALID']);
    }
    expect((await get('/v2/search/m0/_cairn/lineage/v1?direction=sideways')).status).toBe(400);
    expect((await get('/v2/search/m0/_cairn/lineage/v1?depth=-1')).status).toBe(400);
    expect((await get('/v2/search/m0/_cairn/lineage/sha256:abc')).body.errors[0].code).toBe('MANIFEST_INVALID');
    expect((await get('/v2/Search/m0/_cairn/artifacts/v1')).body.errors[0].code).toBe('NAME_INVALID');
    const post = async (p: string, body?: string) => {
      const r = await fetch(`${base}${p}`, { method: 'POST', ...(body !== undefined ? { body } : {}) });
      return { status: r.status, body: (await r.json()) as Json };
    };
    for (const [p, body] of [
      ['/v2/search/m0/_cairn/lifecycle/v1?to=shipped', undefined],
      ['/v2/search/m0/_cairn/lifecycle/v1', undefined],
      ['/v2/search/m0/_cairn/lifecycle/v1?to=candidate', '{not json'],
      ['/v2/search/m0/_cairn/lifecycle/v1?to=candidate', JSON.stringify({ reason: 'x'.repeat(1001) })],
      ['/v2/search/m0/_cairn/lifecycle/v1?to=candidate', JSON.stringify({ reason: 42 })],
      ['/v2/search/m0/_cairn/compromised/v1', undefined],
    ] as const) {
      const r = await post(p, body);
      expect([p, body?.slice(0, 20), r.status, r.body.errors[0].code]).toEqual([
        p,
        body?.slice(0, 20),
        400,
        'PARAMETER_INVALID',
      ]);
    }
    expect((await post('/v2/search/m0/_cairn/lifecycle/nope?to=candidate')).body.errors[0].code).toBe(
      'MANIFEST_UNKNOWN',
    );
    expect((await fetch(`${base}/v2/search/m0/_cairn/lifecycle/v1?to=candidate`)).status).toBe(405);
    // Unchanged by all of that.
    expect((await get('/v2/search/m0/_cairn/artifacts/v1')).body.stage).toBe('draft');
    expect((await get('/v2/search/m0/_cairn/artifacts/nope')).body.errors[0].code).toBe('MANIFEST_UNKNOWN');
  });
});
