import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/**
 * A real, runnable-shaped container image as an OCI layout: one tar layer (made by tar(1)) holding a
 * file, and a config whose diff_ids match it. Container engines (podman) unpack what they pull, so the
 * random-bytes layers of oci-layout.ts will not do for them.
 */
export async function writeImageLayout(dir: string, ref: string): Promise<{ dir: string; manifestDigest: string }> {
  const content = await mkdtemp(path.join(os.tmpdir(), 'cairn-layer-'));
  try {
    await writeFile(path.join(content, 'hello.txt'), `hello from cairn ${randomBytes(4).toString('hex')}\n`);
    await exec('tar', [
      '--sort=name',
      '--owner=0',
      '--group=0',
      '--numeric-owner',
      '--mtime=@0',
      '-cf',
      path.join(content, 'layer.tar'),
      '-C',
      content,
      'hello.txt',
    ]);
    const layer = await readFile(path.join(content, 'layer.tar'));
    await mkdir(path.join(dir, 'blobs', 'sha256'), { recursive: true });
    const put = async (b: Buffer) => {
      await writeFile(path.join(dir, 'blobs', 'sha256', sha(b)), b);
      return { digest: `sha256:${sha(b)}`, size: b.length };
    };
    const l = await put(layer);
    const config = await put(
      Buffer.from(
        JSON.stringify({
          architecture: 'amd64',
          os: 'linux',
          config: { Cmd: ['/hello.txt'] },
          rootfs: { type: 'layers', diff_ids: [l.digest] },
        }),
      ),
    );
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...l }],
      }),
    );
    const m = await put(manifest);
    await writeFile(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    await writeFile(
      path.join(dir, 'index.json'),
      JSON.stringify({
        schemaVersion: 2,
        manifests: [
          {
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            ...m,
            annotations: { 'org.opencontainers.image.ref.name': ref },
          },
        ],
      }),
    );
    return { dir, manifestDigest: m.digest };
  } finally {
    await rm(content, { recursive: true, force: true });
  }
}
