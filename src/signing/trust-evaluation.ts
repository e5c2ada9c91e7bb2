import { repositoryMatches } from '../policy/governance';
import { COSIGN_SIGN_PREDICATE } from './bundle-verify';
import type { SignatureRecord } from './signature-store';
import { trustPolicyFor, type SignerRule, type TrustConfig } from './trust-config';

export interface TrustReport {
  repository: string;
  digest: string;
  /** off when no policy applies. */
  mode: 'off' | 'audit' | 'enforce';
  /** Whether the policy is satisfied (always true when off). */
  satisfied: boolean;
  /** What is missing, one line each, for a DENIED detail and `cairn verify`. */
  missing: string[];
  signatures: (SignatureRecord & { why?: string })[];
}

function describeSigner(s: SignerRule): string {
  return 'key' in s ? `key ${s.key}` : `${s.subject} from ${s.issuer}`;
}

export function revokedWhy(
  c: TrustConfig,
  r: Pick<SignatureRecord, 'keyName' | 'keyFingerprint' | 'issuer' | 'subject'>,
): string | undefined {
  if (
    r.keyName &&
    (c.revoked.keys.includes(r.keyName) || (r.keyFingerprint && c.revoked.keys.includes(r.keyFingerprint)))
  )
    return `key ${r.keyName} is revoked`;
  if (
    r.issuer &&
    r.subject &&
    c.revoked.identities.some((i) => i.issuer === r.issuer && repositoryMatchesGlob(i.subject, r.subject!))
  )
    return `identity ${r.subject} is revoked`;
  return undefined;
}

/** Globs on identities: `*` matches anything but nothing crosses into a different issuer. */
function repositoryMatchesGlob(pattern: string, value: string): boolean {
  return repositoryMatches(pattern.replace(/\*/g, '**'), value);
}

function signedBy(rules: SignerRule[], r: SignatureRecord): boolean {
  return rules.some((s) =>
    'key' in s
      ? s.key === r.keyName
      : s.issuer === r.issuer && r.subject !== null && repositoryMatchesGlob(s.subject, r.subject),
  );
}

/**
 * Decides whether an artifact's signatures satisfy the trust policy of its repository: at least one
 * verified signature by an allowed signer when signers are listed, and each required attestation,
 * verified, by its allowed signers, from an allowed builder. Revoked keys and identities count as
 * unsigned. Pure: the caller brings the stored checks.
 */
export function evaluateTrust(
  c: TrustConfig,
  repository: string,
  digest: string,
  checks: SignatureRecord[],
): TrustReport {
  const policy = trustPolicyFor(c, repository);
  const mode = policy?.mode ?? 'off';
  const signatures = checks.map((r) => {
    if (!r.verified) return { ...r, accepted: false, why: r.reason ?? 'not verified' };
    const revoked = revokedWhy(c, r);
    return revoked ? { ...r, accepted: false, why: revoked } : { ...r, accepted: true };
  });
  const missing: string[] = [];
  if (policy && mode !== 'off') {
    const valid = signatures.filter((s) => s.accepted);
    if (policy.signers.length > 0) {
      const sigs = valid.filter(
        (s) => (s.predicateType === null || s.predicateType === COSIGN_SIGN_PREDICATE) && signedBy(policy.signers, s),
      );
      if (sigs.length === 0) missing.push(`a verified signature by ${policy.signers.map(describeSigner).join(' or ')}`);
    }
    for (const a of policy.attestations) {
      const signers = a.signers ?? policy.signers;
      const ok = valid.some(
        (s) =>
          s.predicateType === a.predicateType &&
          (signers.length === 0 || signedBy(signers, s)) &&
          (!a.builder || (s.builder !== null && repositoryMatchesGlob(a.builder, s.builder))),
      );
      if (!ok)
        missing.push(
          `a verified ${a.predicateType} attestation${signers.length ? ` by ${signers.map(describeSigner).join(' or ')}` : ''}${a.builder ? ` from builder ${a.builder}` : ''}`,
        );
    }
  }
  return { repository, digest, mode, satisfied: missing.length === 0, missing, signatures };
}

/** What governance counts before approval: verified, unrevoked signatures and attestation types. */
export function evidenceOf(report: TrustReport): { signatures: number; attestations: string[] } {
  const ok = report.signatures.filter((s) => s.accepted);
  return {
    signatures: ok.filter((s) => s.predicateType === null || s.predicateType === COSIGN_SIGN_PREDICATE).length,
    attestations: [
      ...new Set(ok.map((s) => s.predicateType).filter((p): p is string => p !== null && p !== COSIGN_SIGN_PREDICATE)),
    ],
  };
}
