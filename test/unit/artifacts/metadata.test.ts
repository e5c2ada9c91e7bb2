import { extractMetadata, lineageEdges, MetadataProblem } from '../../../src/artifacts/metadata';
import { parseArtifactRef } from '../../../src/artifacts/references';
import { classify } from '../../../src/artifacts/media-types';
import { validateConfig } from '../../../src/artifacts/schemas';

const D = `sha256:${'b'.repeat(64)}`;
const input = (over: Partial<Parameters<typeof extractMetadata>[0]> = {}): Parameters<typeof extractMetadata>[0] => ({
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  layers: [],
  pushedBy: 'user:a',
  ...over,
});

describe('artifact metadata', () => {
  it('parses references by digest, with or without a repository (and drops a registry host)', () => {
    expect(parseArtifactRef(D)).toEqual({ digest: D });
    expect(parseArtifactRef(`ml/data@${D}`)).toEqual({ repository: 'ml/data', digest: D });
    expect(parseArtifactRef(`registry.example:5000/ml/data@${D}`)).toEqual({ repository: 'ml/data', digest: D });
    for (const bad of ['ml/data:latest', 'sha256:xyz', `ML/Data@${D}`, '', `@${D}`])
      expect(parseArtifactRef(bad)).toBeUndefined();
  });

  it("classifies the ecosystem's names alike", () => {
    expect(classify('application/vnd.cncf.model.manifest.v1+json', undefined, '')).toEqual({
      kind: 'model',
      family: 'modelpack',
    });
    expect(classify(undefined, 'application/vnd.cnai.model.config.v1+json', '')).toEqual({
      kind: 'model',
      family: 'modelpack-cnai',
    });
    expect(classify(undefined, 'application/vnd.kitops.modelkit.config.v1+json', '')).toEqual({
      kind: 'model',
      family: 'kitops',
    });
    expect(classify(undefined, 'application/vnd.docker.ai.model.config.v0.1+json', '')).toEqual({
      kind: 'model',
      family: 'docker-ai',
    });
    expect(classify('application/vnd.cairn.dataset.manifest.v1+json', undefined, '')).toEqual({
      kind: 'dataset',
      family: 'cairn-dataset',
    });
    expect(classify('application/vnd.dev.sigstore.bundle.v0.3+json', undefined, '').kind).toBe('signature');
    expect(classify(undefined, 'application/vnd.oci.image.config.v1+json', '').kind).toBe('image');
    expect(classify(undefined, undefined, 'application/vnd.oci.image.index.v1+json').kind).toBe('index');
  });

  it('takes annotations over the config, and the config over CI claims', () => {
    const m = extractMetadata(
      input({
        artifactType: 'application/vnd.cncf.model.manifest.v1+json',
        configMediaType: 'application/vnd.cncf.model.config.v1+json',
        config: {
          descriptor: {
            name: 'cfg-name',
            version: '1',
            licenses: ['MIT'],
            authors: ['x'],
            sourceURL: 'https://git/cfg',
            revision: 'cfgrev',
          },
          config: { format: 'pytorch' },
        },
        annotations: {
          'org.opencontainers.image.licenses': 'Apache-2.0',
          'org.cairn.training.commit': 'annrev',
          'org.cairn.metric.f1': '0.5',
          'org.cairn.metrics': '{"acc":1}',
          'org.cairn.preprocessing': '["a","b"]',
        },
        layers: [{ mediaType: 'x', digest: D, size: 3, annotations: { 'org.cnai.model.filepath': 'w/model.bin' } }],
        ci: { repository: 'org/repo', sha: 'cisha', run_id: '9', iss: 'https://token.actions.githubusercontent.com' },
      }),
    );
    expect(m).toMatchObject({
      name: 'cfg-name',
      licenses: ['Apache-2.0'],
      creators: ['x'],
      framework: 'pytorch',
      metrics: { acc: 1, f1: 0.5 },
      preprocessing: ['a', 'b'],
      trainingCode: { repository: 'https://git/cfg', commit: 'annrev' },
      pipeline: { url: 'https://github.com/org/repo/actions/runs/9', id: '9' },
    });
    expect(m.files).toEqual([{ path: 'w/model.bin', digest: D, size: 3, mediaType: 'x' }]);
    const fromCi = extractMetadata(input({ ci: { project_path: 'grp/proj', sha: 's', pipeline_id: '7' } }));
    expect(fromCi).toMatchObject({ trainingCode: { repository: 'grp/proj', commit: 's' }, pipeline: { id: '7' } });
  });

  it('refuses provenance that cannot be trusted to stay put, naming the field', () => {
    const problem = (annotations: Record<string, string>) => {
      try {
        extractMetadata(input({ annotations }));
      } catch (err) {
        return err instanceof MetadataProblem ? err.field : 'other';
      }
      return 'none';
    };
    expect(problem({ 'org.cairn.datasets': `${D}, ml/x:latest` })).toBe('annotations/org.cairn.datasets');
    expect(problem({ 'org.cairn.base-model': 'latest' })).toBe('annotations/org.cairn.base-model');
    expect(problem({ 'org.cairn.metrics': '[1]' })).toBe('annotations/org.cairn.metrics');
    expect(problem({ 'org.cairn.metrics': '{"a":"1"}' })).toBe('annotations/org.cairn.metrics/a');
    expect(problem({ 'org.cairn.metric.a': 'NaN' })).toBe('annotations/org.cairn.metric.a');
    expect(problem({ 'org.cairn.metrics': '{"bad name!":1}' })).toBe('metrics/bad name!');
    expect(problem({ 'org.cairn.metrics': '{"ok":1}' })).toBe('none');
  });

  it('turns what an artifact names into lineage edges, once each', () => {
    const m = extractMetadata(
      input({
        annotations: {
          'org.cairn.datasets': `${D},${D}`,
          'org.cairn.base-model': `ml/b@${D}`,
          'org.cairn.derived-from': D,
        },
      }),
    );
    expect(lineageEdges(m, D)).toEqual([
      { relation: 'trained-on', target: { digest: D } },
      { relation: 'fine-tuned-from', target: { repository: 'ml/b', digest: D } },
      { relation: 'derived-from', target: { digest: D } },
      { relation: 'subject', target: { digest: D } },
    ]);
  });

  it('validates configs against the published schemas, naming each field', () => {
    const cfg = (o: object) => Buffer.from(JSON.stringify(o));
    expect(
      validateConfig(
        'application/vnd.cncf.model.config.v1+json',
        cfg({ descriptor: {}, config: {}, modelfs: { type: 'layers', diff_ids: [D] } }),
      ),
    ).toEqual([]);
    expect(
      validateConfig(
        'application/vnd.cncf.model.config.v1+json',
        cfg({ descriptor: { createdAt: 'yesterday' }, config: {}, modelfs: { type: 'tar', diff_ids: ['x'] } }),
      ).map((p) => p.field),
    ).toEqual(['/descriptor/createdAt', '/modelfs/type', '/modelfs/diff_ids/0']);
    expect(
      validateConfig(
        'application/vnd.cairn.dataset.config.v1+json',
        cfg({ name: 'd', records: -1, sources: [{}], 'x-mine': 1 }),
      ).map((p) => p.field),
    ).toEqual(['/records', '/sources/0/uri']);
    expect(validateConfig('application/vnd.oci.image.config.v1+json', cfg({ anything: 1 }))).toEqual([]);
    expect(validateConfig('application/vnd.cairn.dataset.config.v1+json', Buffer.from('[1'))[0]!.message).toMatch(
      /not valid JSON/,
    );
  });
});
