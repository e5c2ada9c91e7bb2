import { createHash } from 'node:crypto';
import { rfc3339 } from './statement';

export const BUNDLE_MEDIA_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
// cosign accepts any layer whose media type starts with this (older and newer bundle versions).
export { BUNDLE_MEDIA_TYPE_PREFIX } from '../../signing/bundle-verify';
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const EMPTY_CONFIG_TYPE = 'application/vnd.oci.empty.v1+json';
export const EMPTY_CONFIG = Buffer.from('{}');

import type { Descriptor } from '../../oci/manifest-parser';
export type { Descriptor };

export function sha256Digest(bytes: Buffer): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

export interface BundleReferrer {
  manifest: Buffer;
  digest: string;
  bundle: Descriptor;
  config: Descriptor;
}

/**
 * The manifest cosign v3 pushes for a bundle (cosign's "new bundle format" as a referrer), field for
 * field, so that `cosign verify` finds and accepts what `cairn sign` stores, and the other way round.
 */
export function bundleReferrerManifest(
  bundleJson: Buffer,
  subject: Descriptor,
  predicateType: string,
  created: Date = new Date(),
): BundleReferrer {
  const config: Descriptor = {
    mediaType: EMPTY_CONFIG_TYPE,
    digest: sha256Digest(EMPTY_CONFIG),
    size: EMPTY_CONFIG.length,
  };
  const bundle: Descriptor = {
    mediaType: BUNDLE_MEDIA_TYPE,
    digest: sha256Digest(bundleJson),
    size: bundleJson.length,
  };
  const manifest = {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    artifactType: BUNDLE_MEDIA_TYPE,
    config,
    layers: [bundle],
    annotations: {
      'org.opencontainers.image.created': rfc3339(created),
      'dev.sigstore.bundle.content': 'dsse-envelope',
      'dev.sigstore.bundle.predicateType': predicateType,
    },
    subject: { mediaType: subject.mediaType, digest: subject.digest, size: subject.size },
  };
  const bytes = Buffer.from(JSON.stringify(manifest));
  return { manifest: bytes, digest: sha256Digest(bytes), bundle, config };
}
