import { OciError } from '../oci/errors';
import type { StoredManifest } from '../catalog/catalog';
import type { ArtifactIndex } from '../catalog/artifact-index';
import type { AuditLog } from '../audit/audit-log';
import { actorFields, type Actor } from '../core/actor';
import type { ReadFindings } from '../core/intents';
import type { TrustStore } from './trust-store';
import type { SignatureStore } from './signature-store';
import { evaluateTrust, type TrustReport } from './trust-evaluation';
import { trustPolicyFor } from './trust-config';

/** What trust enforcement reads: the policy in force, the stored verifications, the artifact's kind. */
export interface TrustDeps {
  trust: Pick<TrustStore, 'current'>;
  signatures: Pick<SignatureStore, 'forSubject'>;
  artifacts: Pick<ArtifactIndex, 'get'>;
  audit: Pick<AuditLog, 'record'>;
}

/** The trust report of an artifact under the policy in force. */
export async function trustReport(
  s: Pick<TrustDeps, 'trust' | 'signatures'>,
  repository: string,
  digest: string,
): Promise<TrustReport> {
  return evaluateTrust(s.trust.current(), repository, digest, await s.signatures.forSubject(repository, digest));
}

const flagged = new Map<string, number>();

/**
 * Before a manifest is served from a repository whose trust policy is on: in enforce mode an artifact
 * that does not satisfy it is DENIED, saying what is missing; in audit mode it is served, flagged (the
 * finding becomes a header) and recorded as an audit event (once a minute per artifact). Signatures and
 * other referrers are served as they are (a verifier must read them).
 */
export async function enforceTrustOnPull(
  s: TrustDeps,
  repository: string,
  m: StoredManifest,
  actor: Actor,
  findings: ReadFindings,
): Promise<void> {
  const trust = s.trust.current();
  const policy = trustPolicyFor(trust, repository);
  if (!policy || policy.mode === 'off') return;
  const artifact = await s.artifacts.get(repository, m.digest);
  if (artifact && ['signature', 'attestation', 'receipt'].includes(artifact.kind)) return;
  const report = evaluateTrust(trust, repository, m.digest, await s.signatures.forSubject(repository, m.digest));
  findings.trust = { satisfied: report.satisfied, missing: report.missing };
  if (report.satisfied) return;
  const message = `${repository}@${m.digest} does not satisfy the trust policy: missing ${report.missing.join('; ')}`;
  const key = `${repository}@${m.digest}`;
  const now = Date.now();
  if ((flagged.get(key) ?? 0) < now - 60_000) {
    if (flagged.size > 10_000) flagged.clear();
    flagged.set(key, now);
    s.audit.record({
      ...actorFields(actor),
      type: 'trust.violation',
      action: 'pull',
      repository,
      digest: m.digest,
      decision: policy.mode === 'enforce' ? 'deny' : 'allow',
      detail: { mode: policy.mode, missing: report.missing.join('; ').slice(0, 1000) },
    });
  }
  if (policy.mode === 'enforce') {
    throw new OciError('DENIED', message, {
      trustPolicy: 'enforce',
      missing: report.missing,
      report: `/v2/${repository}/_cairn/verify/${m.digest}`,
    });
  }
}
