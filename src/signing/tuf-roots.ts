import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import type { AuditLog } from '../audit/audit-log';
import type { Logger } from '../observability/logger';
import type { Metrics } from '../observability/metrics';

/** A TUF repository that publishes a Sigstore trusted_root.json (the public-good one, or a private one). */
export interface TufSource {
  mirror: string;
  /** The TUF root.json to start the chain of trust from; none: the seed @sigstore/tuf ships for its mirror. */
  root?: string;
  refreshSeconds: number;
}

export interface TufRootState {
  mirror: string;
  /** The trusted root in force from this mirror, as JSON; absent until a fetch succeeded. */
  json?: unknown;
  fetchedAt?: Date;
  /** Why the last attempt failed (the previous root, if any, stays in force). */
  error?: string;
}

interface Entry extends TufRootState {
  digest?: string;
  nextAt: number;
}

export interface TufEvents {
  /** Each successful fetch; `changed` when it brought a root other than the one in force. */
  fetched(mirror: string, digest: string, changed: boolean): void;
  failed(mirror: string, error: string, kept: boolean): void;
}

/** A failed fetch is retried sooner than a routine refresh, but not in a tight loop. */
const RETRY_MS = 30_000;
const TIMEOUT_MS = 5_000;

export function tufSourceKey(s: TufSource): string {
  return `${s.mirror}\n${s.root ?? ''}`;
}

/**
 * Sigstore trusted roots fetched through TUF (Fulcio CAs, Rekor, CT and TSA keys), each refreshed on
 * its schedule. TUF verifies the chain from the configured root.json, so a mirror cannot hand out a
 * forged or rolled-back root; the metadata is cached under `cacheDir`, so a registry that starts while
 * its mirror is unreachable uses what it last verified, as long as that metadata has not expired.
 * An expired cache gives no root at all: keyless signatures then fail verification rather than being
 * checked against material nobody vouches for any more.
 */
export class TufRoots {
  private readonly entries = new Map<string, Entry>();
  private running: Promise<void> | undefined;
  /** Changes whenever a root in force or a mirror's error changes: what the trust store compares to re-merge. */
  generation = 0;

  constructor(
    private readonly cacheDir: string,
    private readonly events: TufEvents,
  ) {}

  /** The roots in force for these sources (those fetched at least once). */
  rootsFor(sources: TufSource[]): { file: string; json: unknown; digest: string }[] {
    const out: { file: string; json: unknown; digest: string }[] = [];
    for (const s of sources) {
      const e = this.entries.get(tufSourceKey(s));
      if (e?.json !== undefined && e.digest) out.push({ file: `tuf:${s.mirror}`, json: e.json, digest: e.digest });
    }
    return out;
  }

  /** What an operator needs to see: per mirror, when it last answered and what went wrong since. */
  status(sources: TufSource[]): TufRootState[] {
    return sources.map((s) => {
      const e = this.entries.get(tufSourceKey(s));
      return {
        mirror: s.mirror,
        ...(e?.fetchedAt ? { fetchedAt: e.fetchedAt } : {}),
        ...(e?.error ? { error: e.error } : {}),
      };
    });
  }

  /**
   * Fetches the roots that are due (never fetched, or older than their refresh period), one mirror at a
   * time, since they share the cache directory. `initial` accepts unexpired cached metadata without
   * asking the mirror, so a start does not wait on the network when it need not.
   */
  refresh(sources: TufSource[], opts: { initial?: boolean } = {}): Promise<void> {
    this.running ??= this.refreshDue(sources, opts).finally(() => (this.running = undefined));
    return this.running;
  }

  private async refreshDue(sources: TufSource[], opts: { initial?: boolean }): Promise<void> {
    const now = Date.now();
    for (const s of sources) {
      const key = tufSourceKey(s);
      const e = this.entries.get(key) ?? { mirror: s.mirror, nextAt: 0 };
      this.entries.set(key, e);
      if (e.nextAt > now) continue;
      try {
        // Loaded on first use: most registries configure no TUF source, and the client pulls in an HTTP stack.
        const { getTrustedRoot } = require('@sigstore/tuf') as typeof import('@sigstore/tuf');
        const root = await getTrustedRoot({
          mirrorURL: s.mirror,
          ...(s.root ? { rootPath: s.root } : {}),
          cachePath: this.cachePathFor(s),
          forceCache: opts.initial === true,
          retry: { retries: 0 },
          timeout: TIMEOUT_MS,
        });
        const json = TrustedRoot.toJSON(root);
        const digest = createHash('sha256').update(JSON.stringify(json)).digest('hex');
        e.fetchedAt = new Date();
        if (e.error !== undefined) this.generation++;
        delete e.error;
        e.nextAt = Date.now() + s.refreshSeconds * 1000;
        const changed = digest !== e.digest;
        if (changed) {
          e.json = json;
          e.digest = digest;
          this.generation++;
        }
        this.events.fetched(s.mirror, digest, changed);
      } catch (err) {
        const cause = (err as { cause?: Error }).cause;
        const error = `${(err as Error).message}${cause?.message ? `: ${cause.message}` : ''}`;
        if (error !== e.error) this.generation++;
        e.error = error;
        e.nextAt = Date.now() + Math.min(RETRY_MS, s.refreshSeconds * 1000);
        this.events.failed(s.mirror, e.error, e.json !== undefined);
      }
    }
  }

  /**
   * @sigstore/tuf seeds its cache with the initial root only once per mirror; a cache per initial root
   * makes a changed root.json in the configuration take effect instead of being ignored.
   */
  private cachePathFor(s: TufSource): string {
    const seed = s.root ? readFileSync(s.root) : 'seed';
    return path.join(this.cacheDir, 'tuf', createHash('sha256').update(seed).digest('hex').slice(0, 16));
  }

  /** Refreshes in the background: looks every `tickSeconds` which mirrors are due. */
  start(sources: () => TufSource[], tickSeconds: number): () => Promise<void> {
    const timer = setInterval(
      () => {
        const list = sources();
        if (list.length) void this.refresh(list);
      },
      Math.max(1, tickSeconds) * 1000,
    );
    timer.unref();
    return async () => {
      clearInterval(timer);
      await this.running;
    };
  }
}

/** The registry's TUF roots: each fetch is a metric, each new root an audit event, each failure a log line. */
export function registryTufRoots(
  dataDir: string,
  deps: { metrics: Metrics; logger: Logger; audit: AuditLog },
): TufRoots {
  return new TufRoots(dataDir, {
    fetched: (mirror, digest, changed) => {
      deps.metrics.trustRootFetched.labels(mirror).set(Date.now() / 1000);
      if (!changed) return;
      deps.logger.info({ mirror, digest }, 'Sigstore trusted root from TUF taken into use');
      deps.audit.record({ type: 'trust.root', identity: 'system', detail: { mirror, digest } });
    },
    failed: (mirror, error, kept) => {
      deps.metrics.trustRootFailures.labels(mirror).inc();
      deps.logger[kept ? 'warn' : 'error'](
        { mirror, err: error },
        kept
          ? 'TUF mirror not refreshed; the root it gave before stays in force'
          : 'no Sigstore trusted root from TUF mirror: keyless signatures cannot be verified against it',
      );
    },
  });
}
