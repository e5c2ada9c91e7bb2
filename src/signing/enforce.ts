import type { ServerResponse } from 'node:http';
import { OciError } from '../oci/errors';
import type { StoredManifest } from '../catalog/catalog';
import type { Services } from '../distribution/services';
import type { RequestContext } from '../http/context';
import { requestFields } from '../distribution/audit-trail';
import { evaluateTrust, type TrustReport } from './trust-evaluation';
import { trustPolicyFor } from './trust-config';

/** The trust report of an artifact under the policy in force. */
export async function trustReport(s: Services, repository: string, digest: string): Promise<TrustReport> {
  return evaluateTrust(s.trust.current(), repository, digest, await s.signatures.forSubject(repository, digest));
}

const flagged = new Map<string, number>();

/**
 * Before a manifest is served from a repository whose trust policy is on: in enforce mode an artifact
 * that does not satisfy it is DENIED, saying what is missing; in audit mode it is served, flagged with a
 * header and an audit event (once a minute per artifact). Signatures and other referrers are served as
 * they are (a verifier must read them), and so is HEAD (signing needs the digest of what it signs).
 */
export async function enforceTrustOnPull(
  s: Services,
  repository: string,
  m: StoredManifest,
  method: string | undefined,
  res: ServerResponse,
  ctx: RequestContext,
): Promise<void> {
  const trust = s.trust.current();
  const policy = trustPolicyFor(trust, repository);
  if (!policy || policy.mode === 'off' || method === 'HEAD') return;
  const artifact = await s.artifacts.get(repository, m.digest);
  if (artifact && ['signature', 'attestation', 'receipt'].includes(artifact.kind)) return;
  const report = evaluateTrust(trust, repository, m.digest, await s.signatures.forSubject(repository, m.digest));
  if (report.satisfied) {
    res.setHeader('Cairn-Trust', 'satisfied');
    return;
  }
  const message = `${repository}@${m.digest} does not satisfy the trust policy: missing ${report.missing.join('; ')}`;
  const key = `${repository}@${m.digest}`;
  const now = Date.now();
  if ((flagged.get(key) ?? 0) < now - 60_000) {
    if (flagged.size > 10_000) flagged.clear();
    flagged.set(key, now);
    s.audit.record({
      ...requestFields(s, ctx),
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
  res.setHeader(
    'Cairn-Trust',
    `unsatisfied; ${report.missing
      .join('; ')
      .replace(/[^\x20-\x7e]/g, '?')
      .slice(0, 500)}`,
  );
}
