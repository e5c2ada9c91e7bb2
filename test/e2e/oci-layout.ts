import { createHash, randomBytes } from 'node:crypto';
import { mkdir, writeFile, readFile } from 'node:fs/promises';
import path from 'node:path';

export interface Layout {
  dir: string;
  manifestDigest: string;
  manifest: Buffer;
  blobs: Map<string, Buffer>;
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** Writes an OCI image layout (image-spec "oci-layout") with one manifest tagged `ref`. */
export async function writeLayout(
  dir: string,
  ref: string,
  opts: { configMediaType?: string; artifactType?: string; layerMediaType?: string; config?: object } = {},
): Promise<Layout> {
  const blobs = new Map<string, Buffer>();
  await mkdir(path.join(dir, 'blobs', 'sha256'), { recursive: true });
  const put = async (b: Buffer) => {
    const hex = sha(b);
    blobs.set(`sha256:${hex}`, b);
    await writeFile(path.join(dir, 'blobs', 'sha256', hex), b);
    return { digest: `sha256:${hex}`, size: b.length };
  };
  const config = Buffer.from(
    JSON.stringify(
      opts.config ?? {
        architecture: 'amd64',
        os: 'linux',
        rootfs: { type: 'layers', diff_ids: [] },
        note: randomBytes(4).toString('hex'),
      },
    ),
  );
  const c = await put(config);
  const l1 = await put(randomBytes(300_000));
  const l2 = await put(randomBytes(70_000));
  const layerType = opts.layerMediaType ?? 'application/vnd.oci.image.layer.v1.tar';
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      ...(opts.artifactType ? { artifactType: opts.artifactType } : {}),
      config: { mediaType: opts.configMediaType ?? 'application/vnd.oci.image.config.v1+json', ...c },
      layers: [
        { mediaType: layerType, ...l1 },
        { mediaType: layerType, ...l2 },
      ],
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
  return { dir, manifestDigest: m.digest, manifest, blobs };
}

/** Reads the manifest a layout's index.json names, and the bytes of every blob it references. */
export async function readLayout(
  dir: string,
): Promise<{ manifestDigest: string; manifest: Buffer; blob(digest: string): Promise<Buffer> }> {
  const index = JSON.parse(await readFile(path.join(dir, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
  const digest = index.manifests[0]!.digest;
  const blob = (d: string) => readFile(path.join(dir, 'blobs', 'sha256', d.slice('sha256:'.length)));
  return { manifestDigest: digest, manifest: await blob(digest), blob };
}
