import type { ChangeFeed } from '../core/changes';
import type { Config } from '../config/config';
import { TargetReplicator, type ReplicatorDeps } from './replicator';
import { replicationStatus, type TargetStatus } from './status';

/** Every configured target's replicator, woken by each committed change and swept for other replicas' ones. */
export class Replication {
  readonly replicators: TargetReplicator[];

  constructor(
    private readonly s: ReplicatorDeps & {
      audit: ReplicatorDeps['audit'] & Parameters<typeof replicationStatus>[1]['audit'];
    },
    private readonly config: Config,
    userAgent: string,
  ) {
    const options = {
      self: config.audit.origin,
      sweepMs: config.replication.sweepSeconds * 1000,
      retryMaxMs: config.replication.retryMaxSeconds * 1000,
      userAgent,
    };
    this.replicators = config.replication.targets.map((t) => new TargetReplicator(s, t, options));
  }

  start(feed: ChangeFeed): () => Promise<void> {
    const stops = this.replicators.map((r) => r.start());
    const unsubscribe = feed.subscribe(() => {
      for (const r of this.replicators) r.wake();
    });
    return async () => {
      unsubscribe();
      await Promise.all(stops.map((stop) => stop()));
    };
  }

  /** Resolves once every target's current pass is over: for tests and `cairn replicate --wait`. */
  async settled(): Promise<void> {
    await Promise.all(this.replicators.map((r) => r.settled()));
  }

  status(): Promise<TargetStatus[]> {
    return replicationStatus(this.config.replication.targets, this.s);
  }
}
