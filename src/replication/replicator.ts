import type { AuditLog } from '../audit/audit-log';
import type { Catalog } from '../catalog/catalog';
import { runExclusive } from '../catalog/exclusive-job';
import { WokenJob } from '../catalog/woken-job';
import type { ReplicationStateStore } from '../catalog/kysely-replication-state';
import type { Logger } from '../observability/logger';
import type { BlobStore } from '../storage/blob-store';
import { ArtifactCopier, SourceGone } from './copy';
import { planReplication, repositoryMatcher, type ReplicationAction } from './plan';
import { RefusedByTarget, ReplicationTarget, type ReplicationTargetConfig } from './target';

export interface ReplicatorDeps {
  catalog: Pick<
    Catalog,
    'getManifest' | 'getBlobLink' | 'listReferrers' | 'blobUsage' | 'tagsOf' | 'acquireLease' | 'releaseLease'
  >;
  blobs: Pick<BlobStore, 'read'>;
  audit: Pick<AuditLog, 'eventsFrom' | 'append'>;
  state: ReplicationStateStore;
  logger: Pick<Logger, 'error' | 'info' | 'warn'>;
}

export interface ReplicatorOptions {
  /** This registry's name in Cairn-Replicated-Via: its `audit.origin`. */
  self: string;
  sweepMs: number;
  retryMaxMs: number;
  userAgent: string;
}

// Short: after a crash, the restarted sender (or another replica) waits this long for the dead holder's lease.
const LEASE_MS = 15_000;
const BATCH = 128;

/** Runs one action against the target; false when the target refused it as a loop (nothing to do). */
export async function applyAction(
  s: Pick<ReplicatorDeps, 'catalog' | 'blobs'>,
  target: ReplicationTarget,
  replicated: (repository: string) => boolean,
  a: ReplicationAction,
): Promise<ArtifactCopier | undefined> {
  const prefix = target.config.prefetch;
  if (prefix) {
    // A pull-through cache of this registry fetches for itself (signatures included); it takes no deletes.
    if (a.kind === 'copy') await target.prefetch(`${prefix}/${a.repository}`, a.tags[0] ?? a.digest);
    return undefined;
  }
  if (a.kind === 'delete') {
    await target.deleteManifest(a.repository, a.reference, a.via);
    return undefined;
  }
  const copier = new ArtifactCopier(s, target, replicated, a.via);
  await copier.copy(a.repository, a.digest, a.tags, a.withReferrers);
  return copier;
}

/**
 * Sends this registry's changes to one target, in the order they were logged. The outbox is the audit
 * log itself: every change is in it before the client is answered, in the catalog's database; the
 * target's position moves past an event only once the target has what the event asks for, so a crash,
 * a restart or a target that is down loses nothing (the next pass starts where the last one stopped,
 * and what was sent twice is found present and skipped). One replica sends at a time (a lease per
 * target); a failing target is retried with a doubling backoff. A change the target refuses for good
 * (see RefusedByTarget) is recorded as failed and passed over, so one bad manifest cannot stop the
 * rest; a change whose content was deleted here since is passed over silently.
 */
export class TargetReplicator {
  private readonly job: WokenJob;
  private readonly replicated: (repository: string) => boolean;

  constructor(
    private readonly s: ReplicatorDeps,
    readonly target: ReplicationTargetConfig,
    private readonly options: ReplicatorOptions,
  ) {
    this.replicated = repositoryMatcher(target);
    this.job = new WokenJob({
      delayMs: 0,
      sweepMs: options.sweepMs,
      retryMaxMs: options.retryMaxMs,
      pass: async () =>
        (await runExclusive(s.catalog, `replication:${target.name}`, LEASE_MS, (signal) => this.pass(signal))).ran,
      onError: async (err, retryInMs) => {
        const message = (err as Error).message;
        s.logger.warn(
          { target: target.name, err: message, retryInSeconds: (retryInMs ?? 0) / 1000 },
          'replication stalled; retrying',
        );
        await s.state.replicationError(target.name, message).catch(() => undefined);
      },
    });
  }

  /** Something changed: look at the log now, unless a failure asked to wait. */
  wake(): void {
    this.job.wake();
  }

  start(): () => Promise<void> {
    return this.job.start();
  }

  /** Resolves after the next pass ends (caught up, failed, or another replica holds the lease): for tests. */
  settled(): Promise<void> {
    return this.job.settled();
  }

  /** Sends every change from the target's position to the end of the log. */
  private async pass(signal: AbortSignal): Promise<void> {
    const name = this.target.name;
    let position = (await this.s.state.replicationState(name))?.position ?? 0;
    const target = new ReplicationTarget(this.target, this.options.userAgent);
    try {
      for (;;) {
        const events = await this.s.audit.eventsFrom(position, BATCH);
        if (events.length === 0) return;
        for (const e of events) {
          if (signal.aborted) throw signal.reason;
          const action = await planReplication(e, this.target, this.replicated, this.options.self, this.s.catalog);
          if (action) {
            try {
              await applyAction(this.s, target, this.replicated, action);
            } catch (err) {
              // Deleted here since: nothing left to send (a delete event follows, for targets that take deletes).
              if (err instanceof SourceGone) {
                position = e.seq + 1;
                continue;
              }
              if (!(err instanceof RefusedByTarget)) throw err;
              await this.giveUp(e.seq, err.message);
              position = e.seq + 1;
              continue;
            }
            await this.s.state.advanceReplication(name, e.seq + 1, true);
          }
          position = e.seq + 1;
        }
        await this.s.state.advanceReplication(name, position, false);
      }
    } finally {
      target.close();
    }
  }

  private async giveUp(seq: number, error: string): Promise<void> {
    this.s.logger.error({ target: this.target.name, seq, err: error }, 'replication of a change given up');
    await this.s.state.replicationGaveUp(this.target.name, seq, error);
    await this.s.audit.append({
      type: 'replication.failed',
      identity: 'system',
      action: 'push',
      decision: 'deny',
      detail: { target: this.target.name, event: seq, error: error.slice(0, 500) },
    });
  }
}
