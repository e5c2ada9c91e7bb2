import type { Config } from '../config/config';
import type { Catalog } from '../catalog/catalog';
import type { BlobStore } from '../storage/blob-store';
import type { Logger } from '../observability/logger';
import type { Metrics } from '../observability/metrics';
import type { AuditLog } from '../audit/audit-log';
import type { Quarantine } from './quarantine';
import { reportIntegrityFailure } from './alerts';
import { scrubBlobs } from './scrub';
import { schedulePeriodic } from '../catalog/exclusive-job';

const LEASE_MS = 120_000;

export interface ScrubberDeps {
  config: Pick<Config, 'integrity'>;
  catalog: Catalog;
  blobs: BlobStore;
  quarantine: Quarantine;
  audit: AuditLog;
  logger: Logger;
  metrics: Metrics;
}

/**
 * The background scrubber: full passes over the stored blobs at `integrity.scrubBytesPerSecond`, one
 * replica at a time (a catalog lease), `integrity.scrubIntervalSeconds` apart. Results go to metrics
 * (blobs and bytes checked, the time of the last full pass) and corruption to the integrity alerts.
 */
export function startScrubber(s: ScrubberDeps): () => Promise<void> {
  const { scrubIntervalSeconds, scrubBytesPerSecond } = s.config.integrity;
  if (scrubIntervalSeconds === 0) return async () => undefined;
  // The first pass waits one interval too: a fresh start should not read the whole store at once.
  return schedulePeriodic(s.catalog, {
    name: 'scrub',
    everyMs: scrubIntervalSeconds * 1000,
    leaseMs: LEASE_MS,
    onError: (err) => s.logger.error({ err: (err as Error).message }, 'scrub pass failed'),
    pass: async (signal) => {
      const r = await scrubBlobs(s.blobs, {
        bytesPerSecond: scrubBytesPerSecond,
        signal,
        onChecked: (bytes) => {
          s.metrics.scrubbedBlobs.inc();
          s.metrics.scrubbedBytes.inc(bytes);
        },
        onCorrupt: (digest, actual) =>
          reportIntegrityFailure(
            { digest, actual, where: 'scrub' },
            {
              quarantine: s.quarantine,
              logger: s.logger,
              metrics: s.metrics,
              audit: s.audit,
              webhook: s.config.integrity.alertWebhook,
            },
          ),
      });
      if (!signal.aborted) {
        s.metrics.scrubLastFullPass.set(Date.now() / 1000);
        s.logger.info(
          { event: 'scrub', checked: r.checked, bytes: r.bytes, corrupt: r.corrupt.length, seconds: r.seconds },
          'scrub pass finished',
        );
      }
    },
  });
}
