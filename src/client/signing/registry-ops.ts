import path from 'node:path';
import { MANIFEST_ACCEPT } from '../artifact-types';
import { configDir } from '../credentials';
import { Reporter } from '../progress';
import { formatReference, type Reference } from '../reference';
import { expectOk, type RegistryClient } from '../registry-client';
import { uploadBlob } from '../upload';
import { SigningError } from './errors';
import { OCI_INDEX, sha256Digest, type BundleReferrer, type Descriptor } from './referrer-manifest';

const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

/**
 * The descriptor of the manifest a reference names. A tag is resolved here, once: everything after
 * signs and checks the digest, so a tag moved in between cannot swap what gets signed. The digest is
 * computed from the bytes received, not taken from a header.
 */
export async function resolveSubject(
  client: RegistryClient,
  ref: Reference,
  scope: string,
): Promise<Descriptor & { layers?: LayerDescriptor[] }> {
  const target = ref.digest ?? ref.tag;
  if (!target) throw new SigningError(`${formatReference(ref)}: name a tag or a digest (repo:tag or repo@sha256:…)`);
  const res = await client.request('GET', `/v2/${ref.repository}/manifests/${target}`, {
    scope,
    headers: { Accept: MANIFEST_ACCEPT },
  });
  if (res.status === 404) throw new SigningError(`${formatReference(ref)} does not exist on ${ref.registry}`);
  if (res.status === 403 && /"trustPolicy"/.test(res.body.toString('utf8'))) {
    // A registry enforcing a trust policy serves an unsigned manifest to nobody, but answers HEAD: the
    // digest it names there is what gets signed (as cosign signs what the registry resolves).
    const head = await client.request('HEAD', `/v2/${ref.repository}/manifests/${target}`, {
      scope,
      headers: { Accept: MANIFEST_ACCEPT },
    });
    expectOk(head, `reading the manifest of ${formatReference(ref)}`);
    const digest = head.headers['docker-content-digest'];
    const size = Number(head.headers['content-length']);
    const mediaType = (head.headers['content-type'] ?? '').split(';')[0]!.trim();
    if (!digest?.startsWith('sha256:') || !Number.isSafeInteger(size) || !mediaType)
      throw new SigningError(
        `${formatReference(ref)}: the registry withholds the manifest and its HEAD answer names no digest, size and media type`,
      );
    if (ref.digest && ref.digest !== digest)
      throw new SigningError(`${formatReference(ref)}: the registry says its digest is ${digest}`);
    return { mediaType, digest, size };
  }
  expectOk(res, `reading the manifest of ${formatReference(ref)}`);
  if (res.body.length > MAX_MANIFEST_BYTES)
    throw new SigningError(`${formatReference(ref)}: the manifest is larger than 4 MiB`);
  const digest = sha256Digest(res.body);
  if (ref.digest && ref.digest !== digest)
    throw new SigningError(`${formatReference(ref)}: the registry sent a manifest whose digest is ${digest}`);
  const echoed = res.headers['docker-content-digest'];
  if (echoed && echoed.startsWith('sha256:') && echoed !== digest)
    throw new SigningError(`${formatReference(ref)}: the registry says ${echoed} but sent bytes hashing to ${digest}`);
  const mediaType = (res.headers['content-type'] ?? '').split(';')[0]!.trim() || mediaTypeOf(res.body);
  return { mediaType, digest, size: res.body.length, layers: layersOf(res.body) };
}

type LayerDescriptor = Descriptor & { annotations?: Record<string, string> };

/** The layers a manifest lists (an OpenSSF model signature is compared with its files). */
function layersOf(body: Buffer): LayerDescriptor[] {
  try {
    const layers = (JSON.parse(body.toString('utf8')) as { layers?: unknown }).layers;
    return Array.isArray(layers)
      ? layers.filter((l): l is LayerDescriptor => typeof l?.digest === 'string' && typeof l?.mediaType === 'string')
      : [];
  } catch {
    return [];
  }
}

function mediaTypeOf(body: Buffer): string {
  try {
    const m = (JSON.parse(body.toString('utf8')) as { mediaType?: unknown }).mediaType;
    if (typeof m === 'string') return m;
  } catch {
    // fall through
  }
  throw new SigningError('the registry sent a manifest without a media type');
}

/** Uploads the empty config and the bundle, then the manifest by its digest (a referrer has no tag). */
export async function pushReferrer(
  client: RegistryClient,
  repository: string,
  referrer: BundleReferrer,
  bundleJson: Buffer,
  config: Buffer,
  env: NodeJS.ProcessEnv = process.env,
): Promise<void> {
  const opts = {
    chunkSize: 64 * 1024 * 1024,
    stateDir: path.join(configDir(env), 'uploads'),
    reporter: new Reporter({ quiet: true }),
  };
  await uploadBlob(client, repository, { ...referrer.config, label: 'empty config', data: config }, opts);
  await uploadBlob(client, repository, { ...referrer.bundle, label: 'Sigstore bundle', data: bundleJson }, opts);
  const res = await client.request('PUT', `/v2/${repository}/manifests/${referrer.digest}`, {
    scope: `repository:${repository}:pull,push`,
    headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
    body: referrer.manifest,
  });
  expectOk(res, `pushing the signature manifest to ${repository}`);
}

/** The descriptors of an image index the registry answers with (referrers, receipts). */
async function indexAt(
  client: RegistryClient,
  path: string,
  what: string,
  scope: string,
  on404?: string,
): Promise<Descriptor[]> {
  const res = await client.request('GET', path, { scope, headers: { Accept: OCI_INDEX } });
  if (res.status === 404 && on404) throw new SigningError(on404);
  expectOk(res, what);
  let index: { manifests?: unknown };
  try {
    index = JSON.parse(res.body.toString('utf8')) as { manifests?: unknown };
  } catch {
    throw new SigningError(`${what}: the answer is not JSON`);
  }
  return Array.isArray(index.manifests) ? (index.manifests as Descriptor[]) : [];
}

/** GET /v2/<repo>/referrers/<digest>, unfiltered as cosign asks (a server's filter is only a hint). */
export async function listReferrers(
  client: RegistryClient,
  repository: string,
  digest: string,
  scope: string,
): Promise<Descriptor[]> {
  return indexAt(
    client,
    `/v2/${repository}/referrers/${digest}`,
    `listing the referrers of ${repository}@${digest}`,
    scope,
    `${repository}: the registry does not offer the referrers API (GET /v2/<name>/referrers/<digest> answered 404)`,
  );
}

/**
 * GET /v2/<repo>/_cairn/receipts/<digest>: the registry's receipts of the digest (descriptors of receipt
 * manifests). The registry signs them moments after the push: a verify right after a push waits for them.
 */
export async function listReceipts(
  client: RegistryClient,
  repository: string,
  digest: string,
  scope: string,
): Promise<Descriptor[]> {
  return indexAt(
    client,
    `/v2/${repository}/_cairn/receipts/${digest}?wait=15`,
    `listing the receipts of ${repository}@${digest}`,
    scope,
  );
}

/** A manifest or blob by digest, its bytes checked against the digest (the registry is not trusted for content). */
export async function fetchVerified(
  client: RegistryClient,
  repository: string,
  kind: 'manifests' | 'blobs',
  digest: string,
  scope: string,
  accept?: string,
): Promise<Buffer> {
  const res = await client.request('GET', `/v2/${repository}/${kind}/${digest}`, {
    scope,
    ...(accept ? { headers: { Accept: accept } } : {}),
  });
  expectOk(res, `reading ${kind === 'blobs' ? 'blob' : 'manifest'} ${digest} of ${repository}`);
  const actual = sha256Digest(res.body);
  if (actual !== digest) throw new SigningError(`${repository}: ${digest} arrived as bytes hashing to ${actual}`);
  return res.body;
}
