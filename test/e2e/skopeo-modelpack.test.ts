import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { TestRegistry } from '../helpers/server';
import { startRegistryWithModelTeam } from '../helpers/auth';
import { readLayout } from './oci-layout';

const exec = promisify(execFile);
const skopeo = (...args: string[]) => exec('skopeo', ['--insecure-policy', ...args], { timeout: 120_000 });
const FIXTURES = path.join(__dirname, '..', 'fixtures', 'producers');

/** An OCI image layout holding one golden producer artifact, tagged v1. */
async function layoutOf(
  fixture: string,
  dir: string,
): Promise<{ dir: string; manifest: Buffer; blobs: Map<string, Buffer> }> {
  const src = path.join(FIXTURES, fixture);
  await mkdir(path.join(dir, 'blobs', 'sha256'), { recursive: true });
  const blobs = new Map<string, Buffer>();
  for (const f of await readdir(path.join(src, 'blobs'))) {
    await copyFile(path.join(src, 'blobs', f), path.join(dir, 'blobs', 'sha256', f.slice('sha256-'.length)));
    blobs.set(f.replace('-', ':'), await readFile(path.join(src, 'blobs', f)));
  }
  const manifest = await readFile(path.join(src, 'manifest.json'));
  const digest = `sha256:${createHash('sha256').update(manifest).digest('hex')}`;
  await writeFile(path.join(dir, 'blobs', 'sha256', digest.slice(7)), manifest);
  await writeFile(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(
    path.join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest,
          size: manifest.length,
          annotations: { 'org.opencontainers.image.ref.name': 'v1' },
        },
      ],
    }),
  );
  return { dir, manifest, blobs };
}

/**
 * skopeo copies ModelPack models exactly as their producers write them (the golden fixtures: ModelPack's Go
 * types, KitOps's ModelPack output, the older snake_case form) into Cairn and back under token auth, byte
 * for byte: what `skopeo copy` / `oras cp` of a real ModelPack artifact does.
 */
describe('skopeo copies producer-shaped ModelPack models in and out under token auth', () => {
  let reg: TestRegistry;
  let tmp: string;
  let host: string;
  beforeAll(async () => {
    await exec('skopeo', ['--version']).catch(() => {
      throw new Error('skopeo is required for the end-to-end tests (.ci/run installs it with apt-get)');
    });
    reg = await startRegistryWithModelTeam();
    host = new URL(reg.url).host;
    tmp = await mkdtemp(path.join(os.tmpdir(), 'cairn-skopeo-modelpack-'));
  });
  afterAll(async () => {
    await reg?.close();
    await rm(tmp, { recursive: true, force: true });
  });

  it.each(['modelpack-go-types', 'modelpack-kitops', 'modelpack-cnai-snake-case'])('%s', async (fixture) => {
    const src = await layoutOf(fixture, path.join(tmp, fixture));
    await skopeo(
      'copy',
      '--preserve-digests',
      '--dest-tls-verify=false',
      '--dest-creds',
      'paula:paula-password-123',
      `oci:${src.dir}:v1`,
      `docker://${host}/models/${fixture}:v1`,
    );
    const back = path.join(tmp, `${fixture}-back`);
    await skopeo(
      'copy',
      '--preserve-digests',
      '--src-tls-verify=false',
      '--src-creds',
      'rita:rita-password-123',
      `docker://${host}/models/${fixture}:v1`,
      `oci:${back}:v1`,
    );
    const copy = await readLayout(back);
    expect(copy.manifest.equals(src.manifest)).toBe(true);
    for (const [digest, bytes] of src.blobs) expect((await copy.blob(digest)).equals(bytes)).toBe(true);
  });
});
