import type { Descriptor, ParsedManifest } from '../oci/manifest-parser';
import type { Catalog } from '../catalog/catalog';
import type { BlobStore } from '../storage/blob-store';
import type { AuditLog } from '../audit/audit-log';
import { auditChange } from '../audit/actor-events';
import type { Actor } from '../core/actor';
import type { SignatureStore } from './signature-store';
import { readSmallBlob } from '../storage/read-small';
import { BUNDLE_MEDIA_TYPE_PREFIX, verifyBundle, type BundleCheck } from './bundle-verify';
import { legacySubject, verifyLegacyLayer, type LegacyFormat } from './cosign-legacy';
import { artifactFiles, type ArtifactFile } from './model-signing';
import { revokedWhy } from './trust-evaluation';
import type { TrustConfig } from './trust-config';

const MAX_BUNDLE_BYTES = 1 << 20;

/** What verifying a stored signature reads and writes: the manifests, their layers, the recorded checks. */
export interface SignatureCheckDeps {
  catalog: Pick<Catalog, 'getManifest'>;
  blobs: BlobStore;
  signatures: Pick<SignatureStore, 'record'>;
}
export type SignatureFormat = 'bundle' | LegacyFormat;

/** The Sigstore bundle layer of a referrer, as cosign and `cairn sign` push it. */
export function bundleLayerOf(p: Pick<ParsedManifest, 'subject' | 'layers'>): Descriptor | undefined {
  if (!p.subject) return undefined;
  const layers = (p.layers ?? []).filter((l) => l.mediaType.startsWith(BUNDLE_MEDIA_TYPE_PREFIX));
  return layers.length === 1 ? layers[0] : undefined;
}

/** What a pushed manifest signs, and in which format; undefined when it is no signature. */
export function signatureOf(
  p: ParsedManifest,
  tag: string | undefined,
): { subject: string; format: SignatureFormat } | undefined {
  if (bundleLayerOf(p) && p.subject) return { subject: p.subject.digest, format: 'bundle' };
  return legacySubject(tag, p.subject?.digest, p.layers ?? []);
}

/** The file layers of the signed artifact (a model signature is compared with them); undefined when it is not here. */
async function subjectFiles(
  s: SignatureCheckDeps,
  repository: string,
  subject: string,
): Promise<ArtifactFile[] | undefined> {
  const m = await s.catalog.getManifest(repository, subject);
  if (!m) return undefined;
  try {
    return artifactFiles((JSON.parse(m.content.toString('utf8')) as { layers?: Descriptor[] }).layers ?? []);
  } catch {
    return [];
  }
}

async function verifyLayers(
  s: SignatureCheckDeps,
  trust: TrustConfig,
  repository: string,
  layers: Descriptor[],
  subject: string,
  format: SignatureFormat,
): Promise<BundleCheck> {
  let last: BundleCheck = { verified: false, reason: 'no signature layer' };
  for (const layer of format === 'bundle'
    ? layers.filter((l) => l.mediaType.startsWith(BUNDLE_MEDIA_TYPE_PREFIX))
    : layers) {
    const bytes = await readSmallBlob(s.blobs, layer.digest, MAX_BUNDLE_BYTES).catch(() => undefined);
    if (!bytes) {
      last = { verified: false, reason: 'the signature layer is missing or over 1 MiB' };
      continue;
    }
    if (format === 'bundle') {
      let json: unknown;
      try {
        json = JSON.parse(bytes.toString('utf8'));
      } catch {
        return { verified: false, reason: 'the bundle is not JSON' };
      }
      return verifyBundle(json, subject, trust, await subjectFiles(s, repository, subject));
    }
    // A cosign v2 manifest may carry several signatures: one verified by a trusted key is enough.
    last = verifyLegacyLayer(format, layer, bytes, subject, trust);
    if (last.verified) return last;
  }
  return last;
}

/**
 * Verifies a stored signature manifest against the trust material and records the result (re-read from
 * the catalog, so a re-check sees exactly what was pushed).
 */
export async function checkSignatureManifest(
  s: SignatureCheckDeps,
  trust: TrustConfig,
  repository: string,
  digest: string,
  subject: string,
  format: SignatureFormat,
): Promise<BundleCheck & { accepted: boolean }> {
  const stored = await s.catalog.getManifest(repository, digest);
  let layers: Descriptor[];
  try {
    layers = (JSON.parse(stored?.content.toString('utf8') ?? '{}') as { layers?: Descriptor[] }).layers ?? [];
  } catch {
    layers = [];
  }
  const check = await verifyLayers(s, trust, repository, layers, subject, format);
  const accepted =
    check.verified &&
    !revokedWhy(trust, {
      keyName: check.signer?.keyName ?? null,
      keyFingerprint: check.signer?.keyFingerprint ?? null,
      issuer: check.signer?.issuer ?? null,
      subject: check.signer?.subject ?? null,
    });
  await s.signatures.record(
    repository,
    digest,
    subject,
    layers[0]?.digest ?? '',
    format,
    check,
    accepted,
    trust.version,
  );
  return { ...check, accepted };
}

/**
 * On push of a signature or attestation (a Sigstore bundle referrer, or cosign v2's tag scheme): verify
 * it and record the result, never refusing it (a well-formed signature Cairn cannot verify today may
 * verify under tomorrow's trust material).
 */
export async function ingestSignature(
  s: SignatureCheckDeps & { audit: Pick<AuditLog, 'append'> },
  trust: TrustConfig,
  actor: Actor,
  repository: string,
  digest: string,
  sig: { subject: string; format: SignatureFormat },
): Promise<void> {
  const check = await checkSignatureManifest(s, trust, repository, digest, sig.subject, sig.format);
  await auditChange(s.audit, actor, {
    type: 'signature.verify',
    action: 'push',
    repository,
    digest,
    decision: check.verified ? 'allow' : 'deny',
    detail: {
      subject: sig.subject,
      format: sig.format,
      verified: check.verified,
      ...(check.predicateType ? { predicateType: check.predicateType } : {}),
      ...(check.signer?.keyName ? { key: check.signer.keyName } : {}),
      ...(check.signer?.subject ? { identity: check.signer.subject, issuer: check.signer.issuer ?? null } : {}),
      ...(check.reason ? { reason: check.reason.slice(0, 300) } : {}),
    },
  });
}
