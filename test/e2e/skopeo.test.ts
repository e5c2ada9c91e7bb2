import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { startTestRegistry, type TestRegistry } from '../helpers/server';
import { readLayout, writeLayout } from './oci-layout';

const exec = promisify(execFile);

async function skopeoInstalled(): Promise<boolean> {
  try {
    await exec('skopeo', ['--version']);
    return true;
  } catch {
    if (process.env.CI === 'true')
      throw new Error('skopeo is not installed and CI=true (.ci/run installs it with apt-get)');
    console.warn('skopeo is not installed: skipping the skopeo end-to-end tests (they fail when CI=true)');
    return false;
  }
}

const skopeo = (...args: string[]) => exec('skopeo', ['--insecure-policy', ...args], { timeout: 120_000 });

describe('skopeo, a real and independently written client', () => {
  let reg: TestRegistry;
  let tmp: string;
  let host: string;
  let available = false;
  beforeAll(async () => {
    available = await skopeoInstalled();
    reg = await startTestRegistry({ database: 'sqlite', sessions: 'memory' });
    host = new URL(reg.url).host;
    tmp = await mkdtemp(path.join(os.tmpdir(), 'cairn-skopeo-'));
  });
  afterAll(async () => {
    await reg.close();
    await rm(tmp, { recursive: true, force: true });
  });

  it('copies an image layout in and back out byte for byte, lists tags, inspects and deletes', async () => {
    if (!available) return;
    const src = await writeLayout(path.join(tmp, 'src'), 'v1');
    await skopeo(
      'copy',
      '--preserve-digests',
      '--dest-tls-verify=false',
      `oci:${src.dir}:v1`,
      `docker://${host}/e2e/image:v1`,
    );
    await skopeo(
      'copy',
      '--preserve-digests',
      '--dest-tls-verify=false',
      `oci:${src.dir}:v1`,
      `docker://${host}/e2e/image:v2`,
    );

    const back = path.join(tmp, 'back');
    await skopeo(
      'copy',
      '--preserve-digests',
      '--src-tls-verify=false',
      `docker://${host}/e2e/image:v1`,
      `oci:${back}:v1`,
    );
    const copy = await readLayout(back);
    expect(copy.manifestDigest).toBe(src.manifestDigest);
    expect(copy.manifest.equals(src.manifest)).toBe(true);
    for (const [digest, bytes] of src.blobs) expect((await copy.blob(digest)).equals(bytes)).toBe(true);

    const { stdout: raw } = await skopeo('inspect', '--raw', '--tls-verify=false', `docker://${host}/e2e/image:v1`);
    expect(Buffer.from(raw).equals(src.manifest)).toBe(true);
    const { stdout: tags } = await skopeo('list-tags', '--tls-verify=false', `docker://${host}/e2e/image`);
    expect(JSON.parse(tags)).toEqual({ Repository: `${host}/e2e/image`, Tags: ['v1', 'v2'] });

    await skopeo('delete', '--tls-verify=false', `docker://${host}/e2e/image:v1`);
    // skopeo deletes the digest the tag points to: the manifest and both tags go.
    expect((await fetch(`${reg.url}/v2/e2e/image/manifests/${src.manifestDigest}`)).status).toBe(404);
    expect((await fetch(`${reg.url}/v2/e2e/image/manifests/v2`)).status).toBe(404);
  });

  it('copies a model artifact with custom media types byte-identically', async () => {
    if (!available) return;
    const src = await writeLayout(path.join(tmp, 'model'), 'v1', {
      configMediaType: 'application/vnd.cncf.model.config.v1+json',
      artifactType: 'application/vnd.cncf.model.manifest.v1+json',
      layerMediaType: 'application/vnd.cncf.model.weight.v1.raw',
      // A ModelPack config: the registry validates it on push.
      config: {
        descriptor: { name: 'resnet', version: '50', licenses: ['Apache-2.0'] },
        config: { format: 'onnx', architecture: 'cnn' },
        modelfs: { type: 'layers', diffIds: [] },
      },
    });
    await skopeo(
      'copy',
      '--preserve-digests',
      '--dest-tls-verify=false',
      `oci:${src.dir}:v1`,
      `docker://${host}/models/resnet:v1`,
    );
    const m = await fetch(`${reg.url}/v2/models/resnet/manifests/v1`);
    expect(m.headers.get('docker-content-digest')).toBe(src.manifestDigest);
    expect(Buffer.from(await m.arrayBuffer()).equals(src.manifest)).toBe(true);
    const back = path.join(tmp, 'model-back');
    await skopeo(
      'copy',
      '--preserve-digests',
      '--src-tls-verify=false',
      `docker://${host}/models/resnet:v1`,
      `oci:${back}:v1`,
    );
    const copy = await readLayout(back);
    expect(copy.manifestDigest).toBe(src.manifestDigest);
    for (const [digest, bytes] of src.blobs) expect((await copy.blob(digest)).equals(bytes)).toBe(true);
  });
});
