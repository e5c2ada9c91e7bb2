import { randomUUID } from 'node:crypto';
import type { Services } from '../distribution/services';
import { reportIntegrityFailure } from './alerts';
import { scrubBlobs } from './scrub';

const LEASE_MS = 120_000;

/**
 * The background scrubber: full passes over the stored blobs at `integrity.scrubBytesPerSecond`, one
 * replica at a time (a catalog lease), `integrity.scrubIntervalSeconds` apart. Results go to metrics
 * (blobs and bytes checked, the time of the last full pass) and corruption to the integrity alerts.
 */
export function startScrubber(s: Services): () => Promise<void> {
  const { scrubIntervalSeconds, scrubBytesPerSecond } = s.config.integrity;
  if (scrubIntervalSeconds === 0) return async () => undefined;
  const holder = randomUUID();
  const abort = new AbortController();
  let running: Promise<void> | undefined;
  const pass = async () => {
    if (!(await s.catalog.acquireLease('scrub', holder, LEASE_MS))) return;
    const renew = setInterval(() => void s.catalog.acquireLease('scrub', holder, LEASE_MS).catch(() => undefined), LEASE_MS / 3);
    try {
      const r = await scrubBlobs(s.blobs, {
        bytesPerSecond: scrubBytesPerSecond,
        signal: abort.signal,
        onChecked: (bytes) => {
          s.metrics.scrubbedBlobs.inc();
          s.metrics.scrubbedBytes.inc(bytes);
        },
        onCorrupt: (digest, actual) => reportIntegrityFailure({ digest, actual, where: 'scrub' }, { quarantine: s.quarantine, logger: s.logger, metrics: s.metrics, audit: s.audit, webhook: s.config.integrity.alertWebhook }),
      });
      if (!abort.signal.aborted) {
        s.metrics.scrubLastFullPass.set(Date.now() / 1000);
        s.logger.info({ event: 'scrub', checked: r.checked, bytes: r.bytes, corrupt: r.corrupt.length, seconds: r.seconds }, 'scrub pass finished');
      }
    } finally {
      clearInterval(renew);
      await s.catalog.releaseLease('scrub', holder).catch(() => undefined);
    }
  };
  // The first pass waits one interval too: a fresh start should not read the whole store at once.
  const timer = setInterval(() => {
    running ??= pass()
      .catch((err) => s.logger.error({ err: (err as Error).message }, 'scrub pass failed'))
      .finally(() => (running = undefined));
  }, scrubIntervalSeconds * 1000);
  timer.unref();
  return async () => {
    clearInterval(timer);
    abort.abort();
    await running;
  };
}
