import type { ParsedManifest } from '../distribution/manifest-parser';
import type { Services } from '../distribution/services';
import type { RequestContext } from '../http/context';
import { auditChange } from '../distribution/audit-trail';
import { BUNDLE_MEDIA_TYPE_PREFIX, verifyBundle, type BundleCheck } from './bundle-verify';
import { revokedWhy } from './trust-evaluation';
import type { TrustConfig } from './trust-config';

const MAX_BUNDLE_BYTES = 1 << 20;

/** The Sigstore bundle layer of a referrer, as cosign and `cairn sign` push it. */
export function bundleLayerOf(p: ParsedManifest): { digest: string; size: number } | undefined {
  if (!p.subject) return undefined;
  const layers = (p.layers ?? []).filter((l) => l.mediaType.startsWith(BUNDLE_MEDIA_TYPE_PREFIX));
  return layers.length === 1 ? layers[0] : undefined;
}

async function readSmall(s: Services, digest: string): Promise<Buffer | undefined> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const chunk of await s.blobs.read(digest)) {
    n += (chunk as Buffer).length;
    if (n > MAX_BUNDLE_BYTES) return undefined;
    parts.push(chunk as Buffer);
  }
  return Buffer.concat(parts);
}

/** Verifies one stored bundle against the trust material and records the result. */
export async function checkBundle(s: Services, trust: TrustConfig, repository: string, digest: string, subjectDigest: string, bundleDigest: string): Promise<BundleCheck & { accepted: boolean }> {
  const bytes = await readSmall(s, bundleDigest).catch(() => undefined);
  let json: unknown;
  try {
    json = bytes ? JSON.parse(bytes.toString('utf8')) : undefined;
  } catch {
    json = undefined;
  }
  const check = json === undefined ? { verified: false, reason: bytes ? 'the bundle is not JSON' : 'the bundle is missing or over 1 MiB' } : verifyBundle(json, subjectDigest, trust);
  const accepted = check.verified && !revokedWhy(trust, { keyName: check.signer?.keyName ?? null, keyFingerprint: check.signer?.keyFingerprint ?? null, issuer: check.signer?.issuer ?? null, subject: check.signer?.subject ?? null });
  await s.signatures.record(repository, digest, subjectDigest, bundleDigest, check, accepted, trust.version);
  return { ...check, accepted };
}

/**
 * On push of a signature or attestation: verify it and record the result, never refusing it (a
 * well-formed signature Cairn cannot verify today may verify under tomorrow's trust material).
 */
export async function ingestSignature(s: Services, ctx: RequestContext, repository: string, digest: string, p: ParsedManifest): Promise<void> {
  const layer = bundleLayerOf(p);
  if (!layer || !p.subject) return;
  const trust = s.trust.current();
  const check = await checkBundle(s, trust, repository, digest, p.subject.digest, layer.digest);
  await auditChange(s, ctx, {
    type: 'signature.verify',
    action: 'push',
    repository,
    digest,
    decision: check.verified ? 'allow' : 'deny',
    detail: {
      subject: p.subject.digest,
      verified: check.verified,
      ...(check.predicateType ? { predicateType: check.predicateType } : {}),
      ...(check.signer?.keyName ? { key: check.signer.keyName } : {}),
      ...(check.signer?.subject ? { identity: check.signer.subject, issuer: check.signer.issuer ?? null } : {}),
      ...(check.reason ? { reason: check.reason.slice(0, 300) } : {}),
    },
  });
}
