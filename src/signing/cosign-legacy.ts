import { verify as verifySignature, type KeyObject } from 'node:crypto';
import type { Descriptor } from '../distribution/manifest-parser';
import type { BundleCheck } from './bundle-verify';
import type { TrustedKey } from './trust-config';

/** cosign v2's tag scheme: `sha256-<hex>.sig` (simple signing) and `.att` (DSSE attestations). */
export const LEGACY_TAG = /^(sha256)-([a-f0-9]{64})\.(sig|att)$/;
export const SIMPLE_SIGNING = 'application/vnd.dev.cosign.simplesigning.v1+json';
export const DSSE_ENVELOPE = 'application/vnd.dsse.envelope.v1+json';
const SIGNATURE_ANNOTATION = 'dev.cosignproject.cosign/signature';
const CERTIFICATE_ANNOTATION = 'dev.sigstore.cosign/certificate';

export type LegacyFormat = 'cosign-sig' | 'cosign-att';

/** What a cosign v2 signature manifest signs, from its tag or (as a referrer) its subject. */
export function legacySubject(tag: string | undefined, subject: string | undefined, layers: Descriptor[]): { subject: string; format: LegacyFormat } | undefined {
  const m = tag ? LEGACY_TAG.exec(tag) : null;
  const target = m ? `${m[1]}:${m[2]}` : subject;
  if (!target) return undefined;
  if (layers.length > 0 && layers.every((l) => l.mediaType === SIMPLE_SIGNING)) return { subject: target, format: 'cosign-sig' };
  if (layers.length > 0 && layers.every((l) => l.mediaType === DSSE_ENVELOPE)) return { subject: target, format: 'cosign-att' };
  return undefined;
}

function pae(payloadType: string, payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from(`DSSEv1 ${Buffer.byteLength(payloadType)} ${payloadType} ${payload.length} `), payload]);
}

function verifiedBy(keys: TrustedKey[], data: Buffer, signature: Buffer): TrustedKey | undefined {
  return keys.find((k) => {
    try {
      return verifySignature(k.key.asymmetricKeyType === 'ed25519' ? null : 'sha256', data, k.key as KeyObject, signature);
    } catch {
      return false;
    }
  });
}

/**
 * Verifies one layer of a cosign v2 signature manifest with the trusted keys: a simple-signing payload
 * (its signature in the layer's annotation, its `docker-manifest-digest` the subject), or a DSSE
 * envelope over an in-toto statement about the subject. Keyless v2 signatures (a certificate and a
 * Rekor bundle in annotations) are recorded, not verified.
 */
export function verifyLegacyLayer(format: LegacyFormat, layer: Descriptor, bytes: Buffer, subject: string, keys: TrustedKey[]): BundleCheck {
  const a = layer.annotations ?? {};
  if (format === 'cosign-sig') {
    if (a[CERTIFICATE_ANNOTATION]) return { verified: false, reason: 'a keyless cosign v2 signature (certificate annotation): not verified here; sign with a Sigstore bundle' };
    const sig = a[SIGNATURE_ANNOTATION];
    if (!sig) return { verified: false, reason: `the layer has no ${SIGNATURE_ANNOTATION} annotation` };
    let payload: { critical?: { image?: { 'docker-manifest-digest'?: string } } };
    try {
      payload = JSON.parse(bytes.toString('utf8')) as typeof payload;
    } catch {
      return { verified: false, reason: 'the simple-signing payload is not JSON' };
    }
    const signed = payload.critical?.image?.['docker-manifest-digest'];
    if (signed !== subject) return { verified: false, reason: `the payload signs ${signed ?? 'nothing'}, not ${subject}` };
    const key = verifiedBy(keys, bytes, Buffer.from(sig, 'base64'));
    return key ? { verified: true, signer: { keyName: key.name, keyFingerprint: key.fingerprint } } : { verified: false, reason: 'signed by a key that is not trusted, or the payload was altered' };
  }
  let env: { payloadType?: string; payload?: string; signatures?: { sig?: string }[] };
  try {
    env = JSON.parse(bytes.toString('utf8')) as typeof env;
  } catch {
    return { verified: false, reason: 'the DSSE envelope is not JSON' };
  }
  if (env.payloadType !== 'application/vnd.in-toto+json' || typeof env.payload !== 'string') return { verified: false, reason: 'not an in-toto DSSE envelope' };
  const payload = Buffer.from(env.payload, 'base64');
  let statement: BundleCheck['statement'];
  try {
    statement = JSON.parse(payload.toString('utf8')) as BundleCheck['statement'];
  } catch {
    return { verified: false, reason: 'the payload is not an in-toto statement' };
  }
  const [algorithm, hex] = subject.split(':') as [string, string];
  const base: BundleCheck = { verified: false, statement, ...(statement?.predicateType ? { predicateType: statement.predicateType } : {}) };
  if (!statement?.subject?.some((s) => s?.digest?.[algorithm] === hex)) return { ...base, reason: `the statement's subject is not ${subject}` };
  for (const s of env.signatures ?? []) {
    const key = s.sig ? verifiedBy(keys, pae(env.payloadType, payload), Buffer.from(s.sig, 'base64')) : undefined;
    if (key) return { ...base, verified: true, signer: { keyName: key.name, keyFingerprint: key.fingerprint } };
  }
  return { ...base, reason: 'signed by a key that is not trusted, or the statement was altered' };
}
