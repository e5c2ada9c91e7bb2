import type { KeyObject } from 'node:crypto';
import { bundleFromJSON, type Bundle } from '@sigstore/bundle';
import { PublicKeyDetails, TrustedRoot, type PublicKey } from '@sigstore/protobuf-specs';
import { toSignedEntity, toTrustMaterial, Verifier, type Signer } from '@sigstore/verify';
import type { TrustedKey } from './trust-config';
import { isModelSigning, modelSigningProblem, type ArtifactFile } from './model-signing';

export const BUNDLE_MEDIA_TYPE_PREFIX = 'application/vnd.dev.sigstore.bundle';
export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
/** What cosign signs for a plain signature (an in-toto statement with an empty predicate). */
export const COSIGN_SIGN_PREDICATE = 'https://sigstore.dev/cosign/sign/v1';

export interface SignerIdentity {
  /** A trusted key, by its name in trust.yaml. */
  keyName?: string;
  keyFingerprint?: string;
  /** Keyless: the certificate's OIDC issuer and subject (SAN). */
  issuer?: string;
  subject?: string;
}

export interface BundleCheck {
  verified: boolean;
  /** Why it did not verify. */
  reason?: string;
  signer?: SignerIdentity;
  /** The in-toto predicate type; undefined for a plain message signature. */
  predicateType?: string;
  /** The in-toto statement, when the bundle carries one. */
  statement?: {
    _type?: string;
    subject?: { name?: string; digest?: Record<string, string> }[];
    predicateType?: string;
    predicate?: unknown;
  };
  /** From the transparency log or a timestamp authority, when the bundle has one. */
  signedAt?: string;
}

const EMPTY_ROOT = TrustedRoot.fromJSON({
  mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
  tlogs: [],
  certificateAuthorities: [],
  ctlogs: [],
  timestampAuthorities: [],
});

function keyDetails(key: KeyObject): PublicKeyDetails | undefined {
  if (key.asymmetricKeyType === 'ed25519') return PublicKeyDetails.PKIX_ED25519;
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1')
    return PublicKeyDetails.PKIX_ECDSA_P256_SHA_256;
  if (key.asymmetricKeyType === 'rsa') return PublicKeyDetails.PKIX_RSA_PKCS1V15_2048_SHA256;
  return undefined;
}

function publicKeyOf(k: TrustedKey): PublicKey | undefined {
  const details = keyDetails(k.key);
  if (details === undefined) return undefined;
  return {
    rawBytes: k.key.export({ format: 'der', type: 'spki' }),
    keyDetails: details,
    validFor: { start: new Date(0) },
  };
}

function signedAt(b: Bundle): string | undefined {
  const t = b.verificationMaterial.tlogEntries[0]?.integratedTime;
  return t ? new Date(Number(t) * 1000).toISOString() : undefined;
}

/**
 * The statement of a DSSE bundle, checked the way @sigstore/verify does not: type, and subject (for an
 * OpenSSF model signature, which names no OCI digest: the artifact's files).
 */
function statementOf(
  b: Bundle,
  subjectDigest: string,
  files: ArtifactFile[] | undefined,
): { statement?: BundleCheck['statement']; problem?: string } {
  if (b.content.$case !== 'dsseEnvelope') {
    const d = b.content.messageSignature.messageDigest;
    const hex = d ? Buffer.from(d.digest).toString('hex') : undefined;
    return hex && `sha256:${hex}` === subjectDigest
      ? {}
      : {
          problem: `the message signature is over ${hex ? `sha256:${hex}` : 'an unknown digest'}, not ${subjectDigest}`,
        };
  }
  const env = b.content.dsseEnvelope;
  if (env.payloadType !== IN_TOTO_PAYLOAD_TYPE)
    return { problem: `payload type is ${env.payloadType}, not ${IN_TOTO_PAYLOAD_TYPE}` };
  let statement: BundleCheck['statement'];
  try {
    statement = JSON.parse(Buffer.from(env.payload).toString('utf8')) as BundleCheck['statement'];
  } catch {
    return { problem: 'the payload is not an in-toto statement (not JSON)' };
  }
  if (statement && isModelSigning(statement.predicateType)) {
    const problem = modelSigningProblem(statement, files);
    return problem ? { statement, problem } : { statement };
  }
  const [algorithm, hex] = subjectDigest.split(':') as [string, string];
  const names = statement?.subject ?? [];
  if (!Array.isArray(names) || !names.some((s) => s?.digest?.[algorithm] === hex)) {
    return { statement, problem: `the statement's subject is not ${subjectDigest}` };
  }
  return { statement };
}

/**
 * Verifies a Sigstore bundle as a signature of `subjectDigest`: the signature itself against the trusted
 * keys (by the bundle's key hint) or, for a certificate, against the trusted roots (Fulcio chain, Rekor
 * inclusion, a trusted time); then what @sigstore/verify leaves to its caller: the payload type and that
 * the statement is about this artifact (`subjectFiles`: the artifact's file layers, which a model
 * signature is compared with). Never throws: anything malformed is a reason.
 */
export function verifyBundle(
  bundleJson: unknown,
  subjectDigest: string,
  trust: TrustMaterial,
  subjectFiles?: ArtifactFile[],
): BundleCheck {
  let b: Bundle;
  try {
    b = bundleFromJSON(bundleJson);
  } catch (err) {
    return { verified: false, reason: `not a Sigstore bundle: ${(err as Error).message}` };
  }
  const s = statementOf(b, subjectDigest, subjectFiles);
  const base: BundleCheck = {
    verified: false,
    ...(s.statement ? { statement: s.statement, predicateType: s.statement.predicateType } : {}),
    ...(signedAt(b) ? { signedAt: signedAt(b) } : {}),
  };
  if (s.problem) return { ...base, reason: s.problem };
  if (s.statement && typeof s.statement.predicateType !== 'string')
    return { ...base, reason: 'the statement has no predicateType' };

  const v = verifySignedEntity(b, trust);
  return 'reason' in v ? { ...base, reason: v.reason } : { ...base, verified: true, signer: v.signer };
}

export type TrustMaterial = { keys: TrustedKey[]; trustedRoots: { json: unknown }[]; rootProblems?: string[] };

/** Parsed once per trusted root in force: a re-check pass verifies every stored signature against it. */
const rootMaterial = new WeakMap<object, ReturnType<typeof toTrustMaterial>>();
function materialOf(json: unknown): ReturnType<typeof toTrustMaterial> {
  const cached = typeof json === 'object' && json !== null ? rootMaterial.get(json) : undefined;
  if (cached) return cached;
  const m = toTrustMaterial(TrustedRoot.fromJSON(json));
  if (typeof json === 'object' && json !== null) rootMaterial.set(json, m);
  return m;
}

/**
 * The signature of a bundle against the trusted keys (by the bundle's key hint) or, for a certificate,
 * against the trusted roots (Fulcio chain, SCT, Rekor inclusion proof or promise, a trusted time).
 * `artifact`: the signed bytes of a message signature, when they are not the subject itself.
 */
export function verifySignedEntity(
  b: Bundle,
  trust: TrustMaterial,
  artifact?: Buffer,
): { signer: SignerIdentity } | { reason: string } {
  const vm = b.verificationMaterial.content;
  try {
    if (vm.$case === 'publicKey') {
      const hint = vm.publicKey.hint;
      const key = trust.keys.find((k) => k.hints.includes(hint));
      if (!key) return { reason: `signed by a key that is not trusted (hint ${hint || 'none'})` };
      const pk = publicKeyOf(key);
      if (!pk) return { reason: `key ${key.name} has an unsupported type` };
      new Verifier(toTrustMaterial(EMPTY_ROOT, { [hint]: pk }), {
        tlogThreshold: 0,
        ctlogThreshold: 0,
        timestampThreshold: 0,
      }).verify(toSignedEntity(b, artifact));
      return { signer: { keyName: key.name, keyFingerprint: key.fingerprint } };
    }
    if (trust.trustedRoots.length === 0) {
      const why = trust.rootProblems?.length ? trust.rootProblems.join('; ') : 'no Sigstore trusted root is configured';
      return { reason: `signed with a certificate (keyless), and ${why}` };
    }
    let last = 'no trusted root verifies it';
    for (const root of trust.trustedRoots) {
      try {
        const signer: Signer = new Verifier(materialOf(root.json), {
          tlogThreshold: 1,
          ctlogThreshold: 1,
          timestampThreshold: 1,
        }).verify(toSignedEntity(b, artifact));
        return {
          signer: {
            ...(signer.identity?.extensions?.issuer ? { issuer: signer.identity.extensions.issuer } : {}),
            ...(signer.identity?.subjectAlternativeName ? { subject: signer.identity.subjectAlternativeName } : {}),
          },
        };
      } catch (err) {
        last = (err as Error).message;
      }
    }
    return { reason: `the certificate or its transparency-log proof does not verify: ${last}` };
  } catch (err) {
    // @sigstore/verify throws VerificationError, and a plain TypeError on some malformed input.
    return { reason: `the signature does not verify: ${(err as Error).message}` };
  }
}
