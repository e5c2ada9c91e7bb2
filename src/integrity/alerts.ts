import type { AuditLog } from '../audit/audit-log';
import type { Logger } from '../observability/logger';
import type { Metrics } from '../observability/metrics';
import type { Quarantine } from './quarantine';

export interface IntegrityFailure {
  digest: string;
  actual: string;
  /** blob-read (a verified GET) or scrub. */
  where: string;
  repository?: string;
}

/**
 * What happens when stored bytes do not match their digest, wherever it was found: the blob is
 * quarantined, the failure is logged at error level, counted, appended to the audit log, and POSTed to
 * the alert webhook when one is configured.
 */
export async function reportIntegrityFailure(
  f: IntegrityFailure,
  deps: { quarantine: Quarantine; logger: Logger; metrics?: Metrics; audit?: AuditLog; webhook?: string },
): Promise<void> {
  deps.logger.error(
    { event: 'integrity', ...f },
    'integrity failure: stored blob does not match its digest; quarantined',
  );
  deps.metrics?.integrityFailures.labels(f.where).inc();
  await deps.quarantine.mark(f.digest, f.actual, f.where);
  await deps.audit?.append({
    type: 'integrity.failure',
    identity: 'system',
    digest: f.digest,
    ...(f.repository ? { repository: f.repository } : {}),
    detail: { actual: f.actual, where: f.where },
  });
  if (deps.webhook) {
    try {
      const r = await fetch(deps.webhook, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ event: 'cairn.integrity.failure', time: new Date().toISOString(), ...f }),
        signal: AbortSignal.timeout(5000),
      });
      if (!r.ok) throw new Error(`webhook answered ${r.status}`);
    } catch (err) {
      deps.logger.error({ err: (err as Error).message, webhook: deps.webhook }, 'integrity alert not delivered');
    }
  }
}
