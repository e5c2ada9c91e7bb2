import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { createHash } from 'node:crypto';
import type { TestRegistry } from '../helpers/server';
import { bearer, startRegistryWithModelTeam, token } from '../helpers/auth';

const exec = promisify(execFile);
const ORAS = path.resolve(__dirname, '../../../shared/tools/oras/oras');
const present = existsSync(ORAS);
if (!present && process.env.CI === 'true')
  throw new Error(`the ORAS CLI is missing at ${ORAS} (CI has ../shared/tools)`);
if (!present) console.warn(`no ORAS CLI at ${ORAS}: the oras end-to-end test does not run here`);

const sha256 = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const MODEL_MANIFEST = 'application/vnd.cncf.model.manifest.v1+json';
const MODEL_CONFIG = 'application/vnd.cncf.model.config.v1+json';
const WEIGHT = 'application/vnd.cncf.model.weight.v1.raw';

/**
 * The ORAS CLI (../shared/tools/oras, built from its public sources): what CI pipelines push models with.
 * Under token auth it pushes a ModelPack model whose config is in the official (Go types) form, pulls it
 * back byte for byte, attaches and discovers a referrer, and copies the graph to another repository.
 */
(present ? describe : describe.skip)('oras pushes and pulls a ModelPack model under token auth', () => {
  let reg: TestRegistry;
  let tmp: string;
  let host: string;
  let env: NodeJS.ProcessEnv;
  const oras = (...args: string[]) => exec(ORAS, args, { env, cwd: tmp, timeout: 120_000 });
  // The password on standard input, as a CI job passes it.
  const login = (user: string, password: string) =>
    exec('sh', ['-c', `printf %s "$PW" | "$ORAS" login --plain-http "$HOST" -u "$USER_NAME" --password-stdin`], {
      env: { ...env, PW: password, ORAS, HOST: host, USER_NAME: user },
      cwd: tmp,
    });
  beforeAll(async () => {
    reg = await startRegistryWithModelTeam();
    host = new URL(reg.url).host;
    tmp = await mkdtemp(path.join(os.tmpdir(), 'cairn-oras-'));
    // oras keeps its credentials under $HOME/.docker: a HOME of the test's own.
    env = { ...process.env, HOME: tmp };
  });
  afterAll(async () => {
    await reg?.close();
    await rm(tmp, { recursive: true, force: true });
  });

  it('logs in, pushes, pulls back byte for byte, attaches, discovers and copies with referrers', async () => {
    const weights = Buffer.concat([Buffer.alloc(64), Buffer.from('safetensors weights of the oras model')]);
    const tokenizer = Buffer.from('{"model":{"type":"BPE"}}');
    await writeFile(path.join(tmp, 'model.safetensors'), weights);
    await writeFile(path.join(tmp, 'tokenizer.json'), tokenizer);
    const config = Buffer.from(
      JSON.stringify({
        descriptor: {
          createdAt: '2026-12-01T10:00:00.123456789Z',
          authors: ['ML Platform'],
          name: 'oras-llm',
          version: '1.0.0',
          licenses: ['Apache-2.0'],
        },
        modelfs: { type: 'layers', diffIds: [sha256(weights), sha256(tokenizer)] },
        config: {
          format: 'safetensors',
          paramSize: '1b',
          capabilities: { inputTypes: ['text'], outputTypes: ['text'], toolUsage: false },
        },
      }),
    );
    await writeFile(path.join(tmp, 'config.json'), config);

    await login('paula', 'paula-password-123');
    const pushed = await oras(
      'push',
      '--plain-http',
      `${host}/models/oras-llm:v1`,
      '--artifact-type',
      MODEL_MANIFEST,
      '--config',
      `config.json:${MODEL_CONFIG}`,
      `model.safetensors:${WEIGHT}`,
      `tokenizer.json:${WEIGHT}`,
      '--export-manifest',
      'pushed.json',
    );
    const pushedDigest = sha256(await readFile(path.join(tmp, 'pushed.json')));
    expect(pushed.stdout).toContain(pushedDigest);

    // Recognised as a ModelPack model, its official config accepted and read.
    const t = await token(reg.url, 'paula', 'paula-password-123', ['repository:models/oras-llm:pull']);
    const info = (await (
      await fetch(`${reg.url}/v2/models/oras-llm/_cairn/artifacts/v1`, { headers: bearer(t) })
    ).json()) as Record<string, unknown>;
    expect(info).toMatchObject({ kind: 'model', family: 'modelpack', name: 'oras-llm', version: '1.0.0' });

    // A reader pulls it back, byte for byte.
    await login('rita', 'rita-password-123');
    const out = path.join(tmp, 'out');
    await mkdir(out);
    await oras('pull', '--plain-http', '-o', out, `${host}/models/oras-llm:v1`);
    expect((await readFile(path.join(out, 'model.safetensors'))).equals(weights)).toBe(true);
    expect((await readFile(path.join(out, 'tokenizer.json'))).equals(tokenizer)).toBe(true);
    const fetchedConfig = await oras(
      'blob',
      'fetch',
      '--plain-http',
      '--output',
      '-',
      `${host}/models/oras-llm@${sha256(config)}`,
    );
    expect(Buffer.from(fetchedConfig.stdout).equals(config)).toBe(true);
    const manifest = JSON.parse(
      (await oras('manifest', 'fetch', '--plain-http', `${host}/models/oras-llm:v1`)).stdout,
    ) as { artifactType: string; config: { mediaType: string; digest: string } };
    expect(manifest).toMatchObject({
      artifactType: MODEL_MANIFEST,
      config: { mediaType: MODEL_CONFIG, digest: sha256(config) },
    });

    // The publisher attaches an SBOM; discovery shows exactly what was attached (no registry receipt).
    await login('paula', 'paula-password-123');
    await writeFile(path.join(tmp, 'sbom.json'), '{"spdxVersion":"SPDX-2.3"}');
    await oras(
      'attach',
      '--plain-http',
      '--artifact-type',
      'application/spdx+json',
      `${host}/models/oras-llm:v1`,
      'sbom.json:application/spdx+json',
    );
    const discovered = JSON.parse(
      (await oras('discover', '--plain-http', '-o', 'json', `${host}/models/oras-llm:v1`)).stdout,
    ) as { manifests: { artifactType: string }[] };
    expect(discovered.manifests.map((m) => m.artifactType)).toEqual(['application/spdx+json']);

    // oras cp -r copies the model with its referrers to another repository.
    await oras(
      'cp',
      '-r',
      '--from-plain-http',
      '--to-plain-http',
      `${host}/models/oras-llm:v1`,
      `${host}/models/oras-copy:v1`,
    );
    const copied = JSON.parse(
      (await oras('discover', '--plain-http', '-o', 'json', `${host}/models/oras-copy:v1`)).stdout,
    ) as { manifests: { artifactType: string }[] };
    expect(copied.manifests.map((m) => m.artifactType)).toEqual(['application/spdx+json']);
    const copiedManifest = await oras(
      'manifest',
      'fetch',
      '--plain-http',
      '--descriptor',
      `${host}/models/oras-copy:v1`,
    );
    expect((JSON.parse(copiedManifest.stdout) as { digest: string }).digest).toBe(pushedDigest);

    // A reader may not push.
    await login('rita', 'rita-password-123');
    await expect(
      oras('push', '--plain-http', `${host}/models/oras-llm:v2`, `model.safetensors:${WEIGHT}`),
    ).rejects.toThrow();
  });
});
