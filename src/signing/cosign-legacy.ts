import { createHash, verify as verifySignature, X509Certificate, type KeyObject } from 'node:crypto';
import { bundleFromJSON, type Bundle } from '@sigstore/bundle';
import type { Descriptor } from '../oci/manifest-parser';
import { verifySignedEntity, type BundleCheck, type SignerIdentity, type TrustMaterial } from './bundle-verify';
import type { TrustedKey } from './trust-config';

/** cosign v2's tag scheme: `sha256-<hex>.sig` (simple signing) and `.att` (DSSE attestations). */
export const LEGACY_TAG = /^(sha256)-([a-f0-9]{64})\.(sig|att)$/;
export const SIMPLE_SIGNING = 'application/vnd.dev.cosign.simplesigning.v1+json';
export const DSSE_ENVELOPE = 'application/vnd.dsse.envelope.v1+json';
const SIGNATURE_ANNOTATION = 'dev.cosignproject.cosign/signature';
const CERTIFICATE_ANNOTATION = 'dev.sigstore.cosign/certificate';
const CHAIN_ANNOTATION = 'dev.sigstore.cosign/chain';
const REKOR_BUNDLE_ANNOTATION = 'dev.sigstore.cosign/bundle';
const TIMESTAMP_ANNOTATION = 'dev.sigstore.cosign/rfc3161timestamp';

export type LegacyFormat = 'cosign-sig' | 'cosign-att';

/** What a cosign v2 signature manifest signs, from its tag or (as a referrer) its subject. */
export function legacySubject(
  tag: string | undefined,
  subject: string | undefined,
  layers: Descriptor[],
): { subject: string; format: LegacyFormat } | undefined {
  const m = tag ? LEGACY_TAG.exec(tag) : null;
  const target = m ? `${m[1]}:${m[2]}` : subject;
  if (!target) return undefined;
  if (layers.length > 0 && layers.every((l) => l.mediaType === SIMPLE_SIGNING))
    return { subject: target, format: 'cosign-sig' };
  if (layers.length > 0 && layers.every((l) => l.mediaType === DSSE_ENVELOPE))
    return { subject: target, format: 'cosign-att' };
  return undefined;
}

function pae(payloadType: string, payload: Buffer): Buffer {
  return Buffer.concat([
    Buffer.from(`DSSEv1 ${Buffer.byteLength(payloadType)} ${payloadType} ${payload.length} `),
    payload,
  ]);
}

function verifiedBy(keys: TrustedKey[], data: Buffer, signature: Buffer): TrustedKey | undefined {
  return keys.find((k) => {
    try {
      return verifySignature(
        k.key.asymmetricKeyType === 'ed25519' ? null : 'sha256',
        data,
        k.key as KeyObject,
        signature,
      );
    } catch {
      return false;
    }
  });
}

function pemBlocks(text: string | undefined): Buffer[] {
  return [...(text ?? '').matchAll(/-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+?)-----END CERTIFICATE-----/g)].map(
    (m) => Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64'),
  );
}

/**
 * A keyless cosign v2 signature as the Sigstore bundle it amounts to: the certificate (and chain) from
 * the layer's annotations, the Rekor entry with its signed entry timestamp (cosign v2 keeps the
 * promise, not an inclusion proof) and an RFC 3161 timestamp when there is one; the content is the
 * message signature over the payload, or the DSSE envelope of an attestation.
 */
function keylessBundle(format: LegacyFormat, a: Record<string, string>, bytes: Buffer): Bundle | string {
  const certs = pemBlocks(a[CERTIFICATE_ANNOTATION]);
  if (certs.length !== 1) return 'the certificate annotation is not one PEM certificate';
  try {
    new X509Certificate(certs[0]!);
  } catch (err) {
    return `the certificate annotation does not parse: ${(err as Error).message}`;
  }
  let rekor: {
    SignedEntryTimestamp?: string;
    Payload?: { body?: string; integratedTime?: number; logIndex?: number; logID?: string };
  };
  try {
    rekor = JSON.parse(a[REKOR_BUNDLE_ANNOTATION] ?? '') as typeof rekor;
  } catch {
    return `no transparency-log entry: the ${REKOR_BUNDLE_ANNOTATION} annotation is missing or not JSON`;
  }
  const p = rekor.Payload;
  if (
    !rekor.SignedEntryTimestamp ||
    !p?.body ||
    typeof p.integratedTime !== 'number' ||
    typeof p.logIndex !== 'number' ||
    !/^[0-9a-f]{64}$/.test(p.logID ?? '')
  ) {
    return `the ${REKOR_BUNDLE_ANNOTATION} annotation lacks the signed entry timestamp, body, time, index or log id`;
  }
  let body: { kind?: string; apiVersion?: string };
  try {
    body = JSON.parse(Buffer.from(p.body, 'base64').toString('utf8')) as typeof body;
  } catch {
    return 'the transparency-log entry body is not JSON';
  }
  let rfc3161: string | undefined;
  if (a[TIMESTAMP_ANNOTATION]) {
    try {
      rfc3161 = (JSON.parse(a[TIMESTAMP_ANNOTATION]) as { SignedRFC3161Timestamp?: string }).SignedRFC3161Timestamp;
    } catch {
      return `the ${TIMESTAMP_ANNOTATION} annotation is not JSON`;
    }
  }
  let content: Record<string, unknown>;
  if (format === 'cosign-sig') {
    const sig = a[SIGNATURE_ANNOTATION];
    if (!sig) return `the layer has no ${SIGNATURE_ANNOTATION} annotation`;
    content = {
      messageSignature: {
        messageDigest: { algorithm: 'SHA2_256', digest: createHash('sha256').update(bytes).digest('base64') },
        signature: sig,
      },
    };
  } else {
    let env: unknown;
    try {
      env = JSON.parse(bytes.toString('utf8'));
    } catch {
      return 'the DSSE envelope is not JSON';
    }
    content = { dsseEnvelope: env };
  }
  try {
    return bundleFromJSON({
      mediaType: 'application/vnd.dev.sigstore.bundle+json;version=0.1',
      verificationMaterial: {
        x509CertificateChain: {
          certificates: [...certs, ...pemBlocks(a[CHAIN_ANNOTATION])].map((der) => ({
            rawBytes: der.toString('base64'),
          })),
        },
        tlogEntries: [
          {
            logIndex: String(p.logIndex),
            logId: { keyId: Buffer.from(p.logID!, 'hex').toString('base64') },
            kindVersion: { kind: body.kind ?? '', version: body.apiVersion ?? '' },
            integratedTime: String(p.integratedTime),
            inclusionPromise: { signedEntryTimestamp: rekor.SignedEntryTimestamp },
            canonicalizedBody: p.body,
          },
        ],
        ...(rfc3161 ? { timestampVerificationData: { rfc3161Timestamps: [{ signedTimestamp: rfc3161 }] } } : {}),
      },
      ...content,
    });
  } catch (err) {
    return `not a verifiable keyless signature: ${(err as Error).message}`;
  }
}

function keylessCheck(
  format: LegacyFormat,
  a: Record<string, string>,
  bytes: Buffer,
  trust: TrustMaterial,
): { signer: SignerIdentity; signedAt?: string } | { reason: string } {
  const b = keylessBundle(format, a, bytes);
  if (typeof b === 'string') return { reason: b };
  const v = verifySignedEntity(b, trust, format === 'cosign-sig' ? bytes : undefined);
  const t = b.verificationMaterial.tlogEntries[0]?.integratedTime;
  return 'reason' in v ? v : { ...v, ...(t ? { signedAt: new Date(Number(t) * 1000).toISOString() } : {}) };
}

/**
 * Verifies one layer of a cosign v2 signature manifest: a simple-signing payload (its signature in the
 * layer's annotation, its `docker-manifest-digest` the subject), or a DSSE envelope over an in-toto
 * statement about the subject; signed by a trusted key, or keyless (a Fulcio certificate and a Rekor
 * entry in annotations) verified against the trusted roots.
 */
export function verifyLegacyLayer(
  format: LegacyFormat,
  layer: Descriptor,
  bytes: Buffer,
  subject: string,
  trust: TrustMaterial,
): BundleCheck {
  const a = layer.annotations ?? {};
  const keyless = Boolean(a[CERTIFICATE_ANNOTATION]);
  if (format === 'cosign-sig') {
    const sig = a[SIGNATURE_ANNOTATION];
    if (!sig) return { verified: false, reason: `the layer has no ${SIGNATURE_ANNOTATION} annotation` };
    let payload: { critical?: { image?: { 'docker-manifest-digest'?: string } } };
    try {
      payload = JSON.parse(bytes.toString('utf8')) as typeof payload;
    } catch {
      return { verified: false, reason: 'the simple-signing payload is not JSON' };
    }
    const signed = payload.critical?.image?.['docker-manifest-digest'];
    if (signed !== subject)
      return { verified: false, reason: `the payload signs ${signed ?? 'nothing'}, not ${subject}` };
    if (keyless) {
      const v = keylessCheck(format, a, bytes, trust);
      return 'reason' in v ? { verified: false, reason: v.reason } : { verified: true, ...v };
    }
    const key = verifiedBy(trust.keys, bytes, Buffer.from(sig, 'base64'));
    return key
      ? { verified: true, signer: { keyName: key.name, keyFingerprint: key.fingerprint } }
      : { verified: false, reason: 'signed by a key that is not trusted, or the payload was altered' };
  }
  let env: { payloadType?: string; payload?: string; signatures?: { sig?: string }[] };
  try {
    env = JSON.parse(bytes.toString('utf8')) as typeof env;
  } catch {
    return { verified: false, reason: 'the DSSE envelope is not JSON' };
  }
  if (env.payloadType !== 'application/vnd.in-toto+json' || typeof env.payload !== 'string')
    return { verified: false, reason: 'not an in-toto DSSE envelope' };
  const payload = Buffer.from(env.payload, 'base64');
  let statement: BundleCheck['statement'];
  try {
    statement = JSON.parse(payload.toString('utf8')) as BundleCheck['statement'];
  } catch {
    return { verified: false, reason: 'the payload is not an in-toto statement' };
  }
  const [algorithm, hex] = subject.split(':') as [string, string];
  const base: BundleCheck = {
    verified: false,
    statement,
    ...(statement?.predicateType ? { predicateType: statement.predicateType } : {}),
  };
  if (!statement?.subject?.some((s) => s?.digest?.[algorithm] === hex))
    return { ...base, reason: `the statement's subject is not ${subject}` };
  if (keyless) {
    const v = keylessCheck(format, a, bytes, trust);
    return 'reason' in v ? { ...base, reason: v.reason } : { ...base, verified: true, ...v };
  }
  for (const s of env.signatures ?? []) {
    const key = s.sig ? verifiedBy(trust.keys, pae(env.payloadType, payload), Buffer.from(s.sig, 'base64')) : undefined;
    if (key) return { ...base, verified: true, signer: { keyName: key.name, keyFingerprint: key.fingerprint } };
  }
  return { ...base, reason: 'signed by a key that is not trusted, or the statement was altered' };
}
