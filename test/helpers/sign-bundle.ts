import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { DSSEBundleBuilder } from '@sigstore/sign';
import { bundleToJSON } from '@sigstore/bundle';
import { keyHints } from '../../src/signing/trust-config';
import { pushArtifact, pushBlobTo, sha256 } from './ml-artifacts';

export function p256(): { privateKey: KeyObject; publicKey: KeyObject; pem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { privateKey, publicKey, pem: publicKey.export({ format: 'pem', type: 'spki' }).toString() };
}

/** A v0.3 DSSE bundle over an in-toto statement about `digest`, signed with a local key as cosign does. */
export async function signStatement(
  key: { privateKey: KeyObject; publicKey: KeyObject },
  digest: string,
  predicateType: string,
  predicate: unknown = {},
): Promise<Record<string, unknown>> {
  return signInTotoStatement(key, {
    _type: 'https://in-toto.io/Statement/v1',
    subject: [{ name: 'artifact', digest: { sha256: digest.split(':')[1] } }],
    predicateType,
    predicate,
  });
}

/** A v0.3 DSSE bundle over any in-toto statement, signed with a local key. */
export async function signInTotoStatement(
  key: { privateKey: KeyObject; publicKey: KeyObject },
  statement: object,
): Promise<Record<string, unknown>> {
  const hint = keyHints(key.publicKey).hints[0]!;
  const signer = {
    sign: async (data: Buffer) => ({
      signature: sign('sha256', data, key.privateKey),
      key: {
        $case: 'publicKey' as const,
        publicKey: key.publicKey.export({ format: 'pem', type: 'spki' }).toString(),
        hint,
      },
    }),
  };
  const bundle = await new DSSEBundleBuilder({ signer, witnesses: [] }).create({
    data: Buffer.from(JSON.stringify(statement)),
    type: 'application/vnd.in-toto+json',
  });
  return bundleToJSON(bundle) as unknown as Record<string, unknown>;
}

/** Pushes a bundle as a referrer of `subject`, in cosign's shape. */
export async function attachBundle(
  base: string,
  repo: string,
  subject: { digest: string; size: number },
  bundle: unknown,
  predicateType: string,
  headers: Record<string, string> = {},
) {
  const bytes = JSON.stringify(bundle);
  return pushArtifact(base, repo, '@digest', {
    artifactType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
    configMediaType: 'application/vnd.oci.empty.v1+json',
    config: {},
    files: { 'bundle.json': bytes },
    layerMediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
    subject: { mediaType: 'application/vnd.oci.image.manifest.v1+json', ...subject },
    annotations: { 'dev.sigstore.bundle.content': 'dsse-envelope', 'dev.sigstore.bundle.predicateType': predicateType },
    headers,
  });
}

/** Pushes a cosign v2 tag-scheme manifest (`sha256-<hex>.sig` / `.att`): one layer with its annotations. */
export async function putLegacySignature(
  base: string,
  repo: string,
  tag: string,
  layer: Buffer,
  mediaType: string,
  annotations: Record<string, string>,
): Promise<Response> {
  const config = Buffer.from(
    JSON.stringify({ architecture: '', os: '', config: {}, rootfs: { type: 'layers', diff_ids: [sha256(layer)] } }),
  );
  for (const b of [config, layer]) {
    const r = await pushBlobTo(base, repo, b);
    if (r.status !== 201) throw new Error(`blob push: ${r.status}`);
  }
  const manifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
    layers: [{ mediaType, digest: sha256(layer), size: layer.length, annotations }],
  };
  return fetch(`${base}/v2/${repo}/manifests/${tag}`, {
    method: 'PUT',
    headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
    body: JSON.stringify(manifest),
  });
}
