import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import Ajv from 'ajv';
import addFormats from 'ajv-formats';
import { startTestRegistry, type TestRegistry } from '../helpers/server';
import { pushBlobTo, sha256 } from '../helpers/ml-artifacts';
import { modelConfig } from '../../src/client/pack';
import { validateConfig } from '../../src/artifacts/schemas';

/**
 * Golden artifacts shaped as each producer's own code marshals them (test/fixtures/producers: ModelPack's
 * Go types and JSON schema, KitOps, Docker model artifacts, the older CNAI form with snake_case keys,
 * Cairn datasets), pushed byte for byte and read back byte for byte, each recognised as what it is.
 */
const ROOT = path.join(__dirname, '..', 'fixtures', 'producers');
const FIXTURES = readdirSync(ROOT).sort();

interface Expect {
  producer: string;
  kind: string;
  family: string;
  name?: string;
  version?: string;
}

describe('artifacts as their producers write them', () => {
  let reg: TestRegistry;
  beforeAll(async () => {
    reg = await startTestRegistry({ database: 'sqlite', sessions: 'memory' });
  });
  afterAll(async () => reg?.close());

  it.each(FIXTURES)('accepts %s byte for byte and reads it back', async (name) => {
    const dir = path.join(ROOT, name);
    const expected = JSON.parse(readFileSync(path.join(dir, 'expect.json'), 'utf8')) as Expect;
    const manifest = readFileSync(path.join(dir, 'manifest.json'));
    const parsed = JSON.parse(manifest.toString()) as {
      config: { digest: string; mediaType: string };
      layers: { digest: string }[];
    };
    const repo = `producers/${name}`;
    for (const file of readdirSync(path.join(dir, 'blobs'))) {
      const bytes = readFileSync(path.join(dir, 'blobs', file));
      expect(sha256(bytes)).toBe(file.replace('-', ':'));
      expect((await pushBlobTo(reg.url, repo, bytes)).status).toBe(201);
    }
    const put = await fetch(`${reg.url}/v2/${repo}/manifests/v1`, {
      method: 'PUT',
      headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
      body: manifest,
    });
    expect([put.status, await put.text()]).toEqual([201, '']);
    expect(put.headers.get('docker-content-digest')).toBe(sha256(manifest));

    const back = await fetch(`${reg.url}/v2/${repo}/manifests/v1`, {
      headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    expect(Buffer.from(await back.arrayBuffer()).equals(manifest)).toBe(true);
    for (const d of [parsed.config.digest, ...parsed.layers.map((l) => l.digest)]) {
      const blob = Buffer.from(await (await fetch(`${reg.url}/v2/${repo}/blobs/${d}`)).arrayBuffer());
      expect(blob.equals(readFileSync(path.join(dir, 'blobs', d.replace(':', '-'))))).toBe(true);
    }
    const info = (await (await fetch(`${reg.url}/v2/${repo}/_cairn/artifacts/v1`)).json()) as Record<string, unknown>;
    expect(info).toMatchObject({
      kind: expected.kind,
      family: expected.family,
      ...(expected.name ? { name: expected.name } : {}),
      ...(expected.version ? { version: expected.version } : {}),
    });
  });

  it('names a wrong field in a ModelPack config as the client wrote it, in either form', async () => {
    const official = Buffer.from(
      JSON.stringify({
        descriptor: {},
        config: { capabilities: { inputTypes: ['smell'] } },
        modelfs: { type: 'layers', diffIds: ['nope'] },
      }),
    );
    expect(validateConfig('application/vnd.cncf.model.config.v1+json', official).map((p) => p.field)).toEqual([
      '/config/capabilities/inputTypes/0',
      '/modelfs/diffIds/0',
    ]);
    const legacy = Buffer.from(
      JSON.stringify({
        descriptor: {},
        config: { capabilities: { input_types: ['smell'] } },
        modelfs: { type: 'layers', diff_ids: ['nope'] },
      }),
    );
    expect(validateConfig('application/vnd.cncf.model.config.v1+json', legacy).map((p) => p.field)).toEqual([
      '/config/capabilities/input_types/0',
      '/modelfs/diff_ids/0',
    ]);
    // Both spellings of one key at once is not a form any producer writes.
    const both = Buffer.from(
      JSON.stringify({ descriptor: {}, config: {}, modelfs: { type: 'layers', diffIds: [], diff_ids: [] } }),
    );
    expect(validateConfig('application/vnd.cncf.model.config.v1+json', both)).toEqual([
      { field: '/modelfs/diff_ids', message: 'is not a known field' },
    ]);
  });

  it('writes, with cairn push model, a config in the official form only (no legacy key), valid against the published schema as it stands', () => {
    const layers = [
      { descriptor: { mediaType: 'application/vnd.cncf.model.weight.v1.raw', digest: sha256('w'), size: 1 } },
    ] as Parameters<typeof modelConfig>[1];
    const cfg = modelConfig(
      {
        name: 'm',
        version: '1',
        authors: ['a'],
        licenses: ['MIT'],
        createdAt: '2026-01-02T03:04:05Z',
        format: 'safetensors',
        architecture: 'transformer',
        paramSize: '7b',
      } as Parameters<typeof modelConfig>[0],
      layers,
    );
    expect(cfg).toMatchObject({ modelfs: { type: 'layers', diffIds: [sha256('w')] } });
    expect(JSON.stringify(cfg)).not.toMatch(/diff_ids|input_types|output_types|knowledge_cutoff|tool_usage/);
    // Straight against the schema file, without the view that maps legacy keys.
    const ajv = new Ajv({ allErrors: true, strict: true });
    addFormats(ajv);
    const validate = ajv.compile(
      JSON.parse(
        readFileSync(path.join(__dirname, '..', '..', 'docs', 'schemas', 'model-config.v1.schema.json'), 'utf8'),
      ) as object,
    );
    expect(validate(cfg) ? [] : validate.errors).toEqual([]);
  });
});
