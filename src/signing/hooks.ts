import type { RegistryHooks } from '../core/hooks';
import type { AuditLog } from '../audit/audit-log';
import { governanceDenied } from '../policy/governance-checks';
import { enforceTrustOnPull, trustReport, type TrustDeps } from './enforce';
import { evidenceOf } from './trust-evaluation';
import { trustPolicyFor } from './trust-config';
import { ingestSignature, signatureOf, type SignatureCheckDeps } from './ingest';
import type { ReceiptIssuer } from './receipt-issuer';

export type SigningDeps = TrustDeps & SignatureCheckDeps & { audit: TrustDeps['audit'] & Pick<AuditLog, 'append'> };

/**
 * Trust on read (the repository's trust policy), and on push: a signature or attestation is verified and
 * its result recorded; any other artifact gets the registry's receipt (`receipts` on).
 */
export function registerSigningHooks(
  hooks: RegistryHooks,
  s: SigningDeps,
  options: { receipts: Pick<ReceiptIssuer, 'wake'> | undefined },
): void {
  hooks.manifestGet.check('trust-policy', 'trust', (r, actor) => {
    // Most repositories have no trust policy: decided without a turn of the event loop.
    if (r.head || (trustPolicyFor(s.trust.current(), r.repository)?.mode ?? 'off') === 'off') return;
    return enforceTrustOnPull(s, r.repository, r.manifest, actor, r.findings);
  });
  // A lifecycle move sees the artifact's verified signatures and attestations (rules may require them),
  // and a repository whose trust policy is enforced approves only what satisfies it.
  hooks.stageMove.check('trust-evidence', 'validation', async (m) => {
    const report = await trustReport(s, m.artifact.repository, m.artifact.digest);
    m.trust = { mode: report.mode, satisfied: report.satisfied, missing: report.missing, ...evidenceOf(report) };
  });
  hooks.stageMove.check('trust-policy', 'trust', async (m, actor) => {
    const { artifact: a, trust } = m;
    if (m.to !== 'approved' || a.stage !== 'candidate' || trust?.mode !== 'enforce' || trust.satisfied) return;
    throw await governanceDenied(s.audit, actor, {
      rule: 'trust-policy',
      action: 'approve',
      repository: a.repository,
      digest: a.digest,
      message: `cannot approve ${a.repository}@${a.digest}: the trust policy requires ${trust.missing.join('; ')}`,
      detail: { from: a.stage, to: m.to, missing: trust.missing.join('; ').slice(0, 1000) },
    });
  });
  hooks.manifestPut.after('signature-ingest', 'signatures', async (m, actor) => {
    const signature = signatureOf(m.parsed, m.tag);
    if (signature) await ingestSignature(s, s.trust.current(), actor, m.repository, m.digest, signature);
  });
  // The receipt is signed in the background from the audit log (the push is in it already): the client
  // is not kept waiting, and a crash loses none.
  const issuer = options.receipts;
  if (!issuer) return;
  hooks.manifestPut.after('receipt', 'receipts', () => issuer.wake(), 'logged');
}
