import { sql, type Kysely } from 'kysely';
import type { Database } from './schema';

/** Where one replication target stands: its position in the audit log and how its last attempts went. */
export interface ReplicationState {
  target: string;
  /** The sequence number of the next audit event to look at. */
  position: number;
  lastError?: string;
  lastErrorAt?: number;
  /** When the target last took a change. */
  lastSentAt?: number;
  /** Events given up on (the target refused them for good); each is in `replicationFailures`. */
  failedEvents: number;
}

export interface ReplicationFailure {
  target: string;
  seq: number;
  error: string;
  failedAt: number;
}

export interface ReplicationStateStore {
  replicationState(target: string): Promise<ReplicationState | undefined>;
  replicationStates(): Promise<ReplicationState[]>;
  /** Moves the target to `position` (never backwards) and clears its last error; `sent` when a change went out. */
  advanceReplication(target: string, position: number, sent: boolean): Promise<void>;
  /** Records why the last attempt failed; the position stays (the event is tried again). */
  replicationError(target: string, error: string): Promise<void>;
  /** Gives up on event `seq` (the target refused it for good): recorded, counted, and the position moves past it. */
  replicationGaveUp(target: string, seq: number, error: string): Promise<void>;
  replicationFailures(target: string, limit: number): Promise<ReplicationFailure[]>;
}

type Row = Database['replication_targets'];

/** The stored position or `p`, whichever is further: a position never moves back (SQLite has no greatest()). */
const atLeast = (p: number) =>
  sql<number>`case when replication_targets.position > ${p} then replication_targets.position else ${p} end`;

function toState(r: Row): ReplicationState {
  return {
    target: r.name,
    position: Number(r.position),
    ...(r.last_error !== null ? { lastError: r.last_error } : {}),
    ...(r.last_error_at !== null ? { lastErrorAt: Number(r.last_error_at) } : {}),
    ...(r.last_sent_at !== null ? { lastSentAt: Number(r.last_sent_at) } : {}),
    failedEvents: Number(r.failed_events),
  };
}

/**
 * Replication positions and failures in the catalog's database (tables replication_targets and
 * replication_failures), shared by every replica; written by the replica holding the target's lease.
 */
export class KyselyReplicationState implements ReplicationStateStore {
  constructor(private readonly db: Kysely<Database>) {}

  async replicationState(target: string): Promise<ReplicationState | undefined> {
    const r = await this.db.selectFrom('replication_targets').selectAll().where('name', '=', target).executeTakeFirst();
    return r ? toState(r) : undefined;
  }

  async replicationStates(): Promise<ReplicationState[]> {
    return (await this.db.selectFrom('replication_targets').selectAll().orderBy('name').execute()).map(toState);
  }

  async advanceReplication(target: string, position: number, sent: boolean): Promise<void> {
    const now = Date.now();
    await this.db
      .insertInto('replication_targets')
      .values({
        name: target,
        position,
        last_error: null,
        last_error_at: null,
        last_sent_at: sent ? now : null,
        failed_events: 0,
        updated_at: now,
      })
      .onConflict((oc) =>
        oc.column('name').doUpdateSet(() => ({
          position: atLeast(position),
          last_error: null,
          last_error_at: null,
          ...(sent ? { last_sent_at: now } : {}),
          updated_at: now,
        })),
      )
      .execute();
  }

  async replicationError(target: string, error: string): Promise<void> {
    const now = Date.now();
    await this.db
      .insertInto('replication_targets')
      .values({
        name: target,
        position: 0,
        last_error: error.slice(0, 2000),
        last_error_at: now,
        last_sent_at: null,
        failed_events: 0,
        updated_at: now,
      })
      .onConflict((oc) =>
        oc.column('name').doUpdateSet({ last_error: error.slice(0, 2000), last_error_at: now, updated_at: now }),
      )
      .execute();
  }

  async replicationGaveUp(target: string, seq: number, error: string): Promise<void> {
    const now = Date.now();
    await this.db.transaction().execute(async (trx) => {
      const inserted = await trx
        .insertInto('replication_failures')
        .values({ target, seq, error: error.slice(0, 2000), failed_at: now })
        .onConflict((oc) => oc.columns(['target', 'seq']).doNothing())
        .returning('seq')
        .executeTakeFirst();
      const counted = inserted ? 1 : 0;
      await trx
        .insertInto('replication_targets')
        .values({
          name: target,
          position: seq + 1,
          last_error: error.slice(0, 2000),
          last_error_at: now,
          last_sent_at: null,
          failed_events: counted,
          updated_at: now,
        })
        .onConflict((oc) =>
          oc.column('name').doUpdateSet((eb) => ({
            position: atLeast(seq + 1),
            last_error: error.slice(0, 2000),
            last_error_at: now,
            failed_events: eb(eb.ref('replication_targets.failed_events'), '+', counted) as never,
            updated_at: now,
          })),
        )
        .execute();
    });
  }

  async replicationFailures(target: string, limit: number): Promise<ReplicationFailure[]> {
    const rows = await this.db
      .selectFrom('replication_failures')
      .selectAll()
      .where('target', '=', target)
      .orderBy('seq', 'desc')
      .limit(limit)
      .execute();
    return rows.map((r) => ({ target: r.target, seq: Number(r.seq), error: r.error, failedAt: Number(r.failed_at) }));
  }
}
