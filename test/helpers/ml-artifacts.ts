import { createHash } from 'node:crypto';

/** Pushing model and dataset artifacts over HTTP, as oras or `cairn push` would, for tests. */
export const sha256 = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export const MODEL_CONFIG = 'application/vnd.cncf.model.config.v1+json';
export const DATASET_CONFIG = 'application/vnd.cairn.dataset.config.v1+json';

export interface PushOptions {
  headers?: Record<string, string>;
  artifactType?: string;
  configMediaType: string;
  config: unknown;
  annotations?: Record<string, string>;
  files?: Record<string, string | Buffer>;
  layerMediaType?: string;
  subject?: { mediaType: string; digest: string; size: number };
}

export async function pushBlobTo(
  base: string,
  repo: string,
  data: Buffer,
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(`${base}/v2/${repo}/blobs/uploads/?digest=${sha256(data)}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/octet-stream', ...headers },
    body: data,
  });
}

/** Pushes config, files and manifest; returns the manifest PUT response and digest (blob failures throw). */
export async function pushArtifact(
  base: string,
  repo: string,
  ref: string,
  o: PushOptions,
): Promise<{ status: number; digest: string; size: number; body: string; response: Response }> {
  const config = Buffer.from(typeof o.config === 'string' ? o.config : JSON.stringify(o.config));
  const blobs: [Buffer, string, Record<string, string>][] = [[config, o.configMediaType, {}]];
  for (const [path, content] of Object.entries(o.files ?? { 'weights.bin': `weights of ${repo}:${ref}` })) {
    blobs.push([
      Buffer.from(content),
      o.layerMediaType ?? 'application/vnd.cncf.model.weight.v1.raw',
      { 'org.opencontainers.image.title': path, 'org.cncf.model.filepath': path },
    ]);
  }
  for (const [data] of blobs) {
    const r = await pushBlobTo(base, repo, data, o.headers);
    if (r.status !== 201) throw new Error(`blob push ${r.status}: ${await r.text()}`);
  }
  const manifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    ...(o.artifactType ? { artifactType: o.artifactType } : {}),
    config: { mediaType: o.configMediaType, digest: sha256(config), size: config.length },
    layers: blobs
      .slice(1)
      .map(([d, mediaType, annotations]) => ({ mediaType, digest: sha256(d), size: d.length, annotations })),
    ...(o.subject ? { subject: o.subject } : {}),
    ...(o.annotations ? { annotations: o.annotations } : {}),
  };
  const body = Buffer.from(JSON.stringify(manifest));
  // `@digest`: pushed by its own digest, as referrers are.
  const target = ref === '@digest' ? sha256(body) : ref;
  const response = await fetch(`${base}/v2/${repo}/manifests/${target}`, {
    method: 'PUT',
    headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json', ...o.headers },
    body,
  });
  return { status: response.status, digest: sha256(body), size: body.length, body: await response.text(), response };
}

export function modelConfig(name: string, extra: Record<string, unknown> = {}): object {
  return {
    descriptor: { name, version: '1.0', licenses: ['Apache-2.0'], authors: ['ml-team@example.com'] },
    config: { format: 'pytorch', architecture: 'transformer', paramSize: '7b' },
    modelfs: { type: 'layers', diffIds: [] },
    ...extra,
  };
}

export function pushModel(
  base: string,
  repo: string,
  ref: string,
  annotations: Record<string, string> = {},
  headers: Record<string, string> = {},
  config: unknown = modelConfig(repo),
) {
  return pushArtifact(base, repo, ref, {
    artifactType: 'application/vnd.cncf.model.manifest.v1+json',
    configMediaType: MODEL_CONFIG,
    config,
    annotations,
    headers,
  });
}

export function pushDataset(
  base: string,
  repo: string,
  ref: string,
  config: Record<string, unknown>,
  headers: Record<string, string> = {},
) {
  return pushArtifact(base, repo, ref, {
    artifactType: 'application/vnd.cairn.dataset.manifest.v1+json',
    configMediaType: DATASET_CONFIG,
    config,
    headers,
    layerMediaType: 'application/vnd.cairn.dataset.file.v1.raw',
    files: { 'train.csv': `a,b\n1,2\n${repo}`, 'test.csv': `a,b\n3,4\n${repo}` },
  });
}
