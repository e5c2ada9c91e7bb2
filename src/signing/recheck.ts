import { schedulePeriodic } from '../catalog/exclusive-job';
import type { Catalog } from '../catalog/catalog';
import type { AuditLog } from '../audit/audit-log';
import type { Logger } from '../observability/logger';
import { checkSignatureManifest, type SignatureCheckDeps, type SignatureFormat } from './ingest';
import type { TrustStore } from './trust-store';
import type { SignatureStore } from './signature-store';
import { revokedWhy } from './trust-evaluation';

const LEASE_MS = 120_000;

export interface RecheckDeps extends SignatureCheckDeps {
  catalog: SignatureCheckDeps['catalog'] & Catalog;
  signatures: SignatureStore;
  trust: Pick<TrustStore, 'current'>;
  audit: Pick<AuditLog, 'append'>;
}
const BATCH = 200;

/**
 * Re-verifies stored signatures against the trust material in force: those checked under another
 * version of it (a key added, revoked, a root updated), or every one (`all`, the periodic pass: a
 * certificate or key may have expired meanwhile). Each signature whose standing changed is an audit
 * event (`signature.recheck`), and enforcement follows at once, since pulls read the stored checks.
 */
export async function recheckSignatures(
  s: RecheckDeps,
  opts: { all?: boolean } = {},
): Promise<{ checked: number; changed: number }> {
  const trust = s.trust.current();
  let checked = 0;
  let changed = 0;
  let after = 0;
  for (;;) {
    const batch = opts.all ? await s.signatures.all(after, BATCH) : await s.signatures.stale(trust.version, BATCH);
    if (batch.length === 0) break;
    for (const before of batch) {
      if ('id' in before) after = (before as { id: number }).id;
      const check = await checkSignatureManifest(
        s,
        trust,
        before.repository,
        before.digest,
        before.subjectDigest,
        before.format as SignatureFormat,
      );
      checked++;
      if (check.accepted === before.accepted && check.verified === before.verified) continue;
      changed++;
      await s.audit.append({
        type: 'signature.recheck',
        identity: 'system',
        action: 'pull',
        repository: before.repository,
        digest: before.digest,
        decision: check.accepted ? 'allow' : 'deny',
        detail: {
          subject: before.subjectDigest,
          verified: check.verified,
          accepted: check.accepted,
          wasAccepted: before.accepted,
          trustVersion: trust.version,
          ...(check.reason
            ? { reason: check.reason.slice(0, 300) }
            : !check.accepted
              ? {
                  reason: (
                    revokedWhy(trust, {
                      keyName: check.signer?.keyName ?? null,
                      keyFingerprint: check.signer?.keyFingerprint ?? null,
                      issuer: check.signer?.issuer ?? null,
                      subject: check.signer?.subject ?? null,
                    }) ?? 'not accepted'
                  ).slice(0, 300),
                }
              : {}),
        },
      });
    }
    if (!opts.all && batch.length < BATCH) break;
  }
  return { checked, changed };
}

/**
 * In the background, one replica at a time: when trust.yaml changes, the signatures checked under the
 * previous material are re-checked; when a trusted root from TUF changes, and every `recheckSeconds`,
 * all of them.
 */
export function startTrustRechecker(s: RecheckDeps & { logger: Logger }, everyMs: number): () => Promise<void> {
  let lastFull = Date.now();
  let lastRoots = s.trust.current().rootsStamp;
  return schedulePeriodic(s.catalog, {
    name: 'trust-recheck',
    everyMs,
    leaseMs: LEASE_MS,
    onError: (err) => s.logger.error({ err: (err as Error).message }, 'signature re-check failed'),
    pass: async () => {
      const trust = s.trust.current();
      const full = trust.rootsStamp !== lastRoots || Date.now() - lastFull >= trust.recheckSeconds * 1000;
      const r = await recheckSignatures(s, { all: full });
      if (full) {
        lastFull = Date.now();
        lastRoots = trust.rootsStamp;
      }
      if (r.checked) s.logger.info({ event: 'trust-recheck', ...r, full }, 'signatures re-checked');
    },
  });
}
