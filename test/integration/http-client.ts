import { createHash, randomBytes } from 'node:crypto';

/** Small helpers for integration tests that talk HTTP to a started registry. */
export function sha256(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

export function random(size: number): Buffer {
  return randomBytes(size);
}

export async function pushBlob(base: string, repo: string, data: Buffer): Promise<string> {
  const digest = sha256(data);
  const r = await fetch(`${base}/v2/${repo}/blobs/uploads/?digest=${digest}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(data.length) },
    body: data,
  });
  if (r.status !== 201) throw new Error(`push blob: ${r.status} ${await r.text()}`);
  return digest;
}

export async function pushManifest(
  base: string,
  repo: string,
  ref: string,
  manifest: object,
  mediaType = 'application/vnd.oci.image.manifest.v1+json',
): Promise<{ digest: string; response: Response }> {
  const body = Buffer.from(JSON.stringify(manifest));
  const response = await fetch(`${base}/v2/${repo}/manifests/${ref}`, {
    method: 'PUT',
    headers: { 'Content-Type': mediaType },
    body,
  });
  if (response.status !== 201) throw new Error(`push manifest: ${response.status} ${await response.text()}`);
  return { digest: sha256(body), response };
}

export function imageManifest(
  config: { digest: string; size: number },
  layers: { digest: string; size: number }[],
  extra: object = {},
): object {
  return {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
    layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...l })),
    ...extra,
  };
}

/** The `code` of the first OCI error in a response body. */
export async function errorCode(r: Response): Promise<string> {
  const body = (await r.json()) as { errors: { code: string }[] };
  return body.errors[0]!.code;
}
