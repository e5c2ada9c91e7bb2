import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import type { Ed25519Signer } from '../keys/signer';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { writeFile, rename } from 'node:fs/promises';
import path from 'node:path';
import type { Kysely } from 'kysely';
import type { Database } from '../catalog/schema';
import type { Logger } from '../observability/logger';
import { canonicalJson } from './canonical-json';
import { MerkleTree } from './merkle-tree';
import { submitToWitnesses, type WitnessTarget } from './witness-client';
import { keyId, loadPrivateKey, rawPublicKey, signCheckpoint, signedBy, verifierKey } from './checkpoint';
import { KEY_ROTATED } from './key-rotation';

const KEY_HISTORY = 'k:audit-key';
import type { AuditEvent, NewEvent } from './events';
import { leafHash, type Hash } from './merkle';

export interface StoredEntry {
  seq: number;
  event: string;
  leafHash: Buffer;
}

export class AuditLogError extends Error {}

const bytes = (v: unknown): Buffer => (Buffer.isBuffer(v) ? v : Buffer.from(v as Uint8Array));

/** Reads or creates the Ed25519 checkpoint key (0600), which must not live in the database it vouches for. */
export function loadOrCreateAuditKey(file: string): KeyObject {
  if (!existsSync(file)) {
    const { privateKey } = generateKeyPairSync('ed25519');
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600, flag: 'wx' });
  }
  return loadPrivateKey(readFileSync(file, 'utf8'));
}

/**
 * The append-only audit log in the catalog database. Appends are grouped: callers' events are queued
 * and written every few milliseconds in one transaction that takes the log head's lock, so sequence
 * numbers are dense and ordered across replicas. Leaf hashes are kept in memory (32 bytes an event) with
 * a Merkle tree keeping its perfect subtrees for O(log² n) roots and proofs; checkpoints are signed every `checkpointMs` while the log grows.
 */
export class AuditLog {
  private queue: { event: NewEvent; done: (seq: number) => void; fail: (e: unknown) => void }[] = [];
  private flushing: Promise<void> | undefined;
  private timer: NodeJS.Immediate | undefined;
  private checkpointTimer: NodeJS.Timeout | undefined;
  private tree = new MerkleTree();
  private lastSigned = -1;
  readonly publicKey: Buffer;

  constructor(
    private readonly db: Kysely<Database>,
    private readonly dialect: 'sqlite' | 'postgres',
    private readonly options: {
      origin: string;
      key?: Ed25519Signer;
      checkpointMs: number;
      witness?: string;
      /** Witnesses each new checkpoint is submitted to for a cosignature (C2SP tlog-witness). */
      witnesses?: WitnessTarget[];
      /**
       * A read-only region: the log's tables are a standby's, read only; new events go here instead (the
       * region's spool, which sends them to the primary), and no checkpoint is signed.
       */
      forward?: (events: NewEvent[]) => Promise<void>;
      logger?: Logger;
    },
  ) {
    // Without a key the log only appends (the CLI's administrative events); checkpoints need the key.
    this.publicKey = options.key ? rawPublicKey(options.key.publicKey) : Buffer.alloc(0);
  }

  get origin(): string {
    return this.options.origin;
  }

  /** The Ed25519 key that signs checkpoints (and registry receipts); absent where this process only verifies. */
  get signingKey(): Ed25519Signer | undefined {
    return this.options.key;
  }

  /**
   * Where an appended event sits in the log right now: the tree size, its root and the inclusion proof of
   * the event's leaf, computed together so they agree.
   */
  async proofOf(seq: number): Promise<{ size: number; root: Hash; leaf: Hash; proof: Hash[] }> {
    await this.flush();
    await this.catchUp();
    const size = this.tree.size;
    if (seq >= size) throw new AuditLogError(`event ${seq} is not in the log`);
    return { size, root: this.tree.root(), leaf: this.tree.leaf(seq), proof: this.tree.inclusionProof(seq, size) };
  }

  /** Several events' places in the log at one tree size (a batch of receipts shares it). */
  async proofsOf(
    seqs: number[],
  ): Promise<{ size: number; root: Hash; proofs: Map<number, { leaf: Hash; proof: Hash[] }> }> {
    await this.flush();
    await this.catchUp();
    const size = this.tree.size;
    const proofs = new Map<number, { leaf: Hash; proof: Hash[] }>();
    for (const seq of seqs) {
      if (seq >= size) throw new AuditLogError(`event ${seq} is not in the log`);
      proofs.set(seq, { leaf: this.tree.leaf(seq), proof: this.tree.inclusionProof(seq, size) });
    }
    return { size, root: this.tree.root(), proofs };
  }

  /** Up to `limit` events from `start` on, in order, as they were appended (the durable ones only). */
  async eventsFrom(start: number, limit: number): Promise<AuditEvent[]> {
    return (await this.entries(start, start + limit)).map((e) => JSON.parse(e.event) as AuditEvent);
  }

  /** The note verifier string anyone needs to check checkpoints offline. */
  get verifier(): string {
    return verifierKey(this.options.origin, this.publicKey);
  }

  async init(): Promise<void> {
    await this.catchUp();
    if (!this.options.forward) await this.indexOlderEvents();
    const latest = await this.latestCheckpoint();
    this.lastSigned = latest?.size ?? -1;
  }

  /** Starts the periodic checkpoint signer. */
  start(): void {
    if (this.options.forward) return;
    this.checkpointTimer = setInterval(() => {
      this.checkpoint().catch((err) =>
        this.options.logger?.error({ err: (err as Error).message }, 'audit checkpoint failed'),
      );
    }, this.options.checkpointMs);
    this.checkpointTimer.unref();
  }

  async close(): Promise<void> {
    if (this.checkpointTimer) clearInterval(this.checkpointTimer);
    if (this.timer) clearImmediate(this.timer);
    await this.flush();
  }

  /** Queues an event; resolves with its sequence number once it is durable. */
  append(event: NewEvent): Promise<number> {
    return new Promise((done, fail) => {
      this.queue.push({ event, done, fail });
      if (this.queue.length >= 500) void this.flush();
      // Group commit: whatever arrives while a write is in flight goes into the next one. setImmediate,
      // not setTimeout(0): a timer waits at least a millisecond, which every push waited for its event
      // (a third of a sequential manifest PUT's round trip).
      else this.timer ??= setImmediate(() => void this.flush());
    });
  }

  /** Records without waiting (pulls): a failure is logged, never the request's. */
  record(event: NewEvent): void {
    this.append(event).catch((err) =>
      this.options.logger?.error({ err: (err as Error).message, type: event.type }, 'audit append failed'),
    );
  }

  async flush(): Promise<void> {
    if (this.timer) {
      clearImmediate(this.timer);
      this.timer = undefined;
    }
    while (this.flushing) await this.flushing;
    if (this.queue.length === 0) return;
    const batch = this.queue;
    this.queue = [];
    this.flushing = this.write(batch).finally(() => (this.flushing = undefined));
    await this.flushing;
  }

  private async write(
    batch: { event: NewEvent; done: (seq: number) => void; fail: (e: unknown) => void }[],
  ): Promise<void> {
    const forward = this.options.forward;
    if (forward) {
      // Numbered by the primary when it takes them in; -1 here.
      await forward(batch.map((b) => b.event)).then(
        () => batch.forEach((b) => b.done(-1)),
        (err: unknown) => batch.forEach((b) => b.fail(err)),
      );
      return;
    }
    try {
      const seqs = await this.db.transaction().execute(async (trx) => {
        let q = trx.selectFrom('audit_head').select('size').where('id', '=', 1);
        if (this.dialect === 'postgres') q = q.forUpdate();
        const head = await q.executeTakeFirstOrThrow();
        let seq = Number(head.size);
        const now = Date.now();
        const rows = batch.map(({ event }) => {
          const full: AuditEvent = { ...event, seq, time: new Date(now).toISOString() };
          const text = canonicalJson(full);
          return { seq: seq++, event: text, leaf_hash: leafHash(Buffer.from(text)), created_at: now };
        });
        await trx.insertInto('audit_events').values(rows).execute();
        const keys = batch.flatMap(({ event }, i) => indexKeys(event).map((key) => ({ key, seq: rows[i]!.seq })));
        if (keys.length)
          await trx
            .insertInto('audit_index')
            .values(keys)
            .onConflict((oc) => oc.doNothing())
            .execute();
        await trx.updateTable('audit_head').set({ size: seq }).where('id', '=', 1).execute();
        return rows.map((r) => r.seq);
      });
      batch.forEach((b, i) => b.done(seqs[i]!));
    } catch (err) {
      for (const b of batch) b.fail(err);
    }
  }

  /** Loads the leaf hashes other replicas appended since this one last looked. */
  async catchUp(): Promise<number> {
    const rows = await this.db
      .selectFrom('audit_events')
      .select(['seq', 'leaf_hash'])
      .where('seq', '>=', this.tree.size)
      .orderBy('seq')
      .execute();
    for (const r of rows) {
      // Two catch-ups may overlap (the receipt issuer's proofs and a checkpoint): what the other one
      // appended meanwhile is already in the tree, and a logged leaf never changes.
      if (Number(r.seq) < this.tree.size) continue;
      if (Number(r.seq) !== this.tree.size) throw new AuditLogError(`audit log has a gap at ${this.tree.size}`);
      const h = bytes(r.leaf_hash);
      this.tree.append(h);
    }
    return this.tree.size;
  }

  async size(): Promise<number> {
    await this.flush();
    return this.catchUp();
  }

  /** The `audit.key-rotated` events, in order: the history of the key that signs checkpoints and receipts. */
  async keyRotations(): Promise<AuditEvent[]> {
    const rows = await this.db
      .selectFrom('audit_index as x')
      .innerJoin('audit_events as e', 'e.seq', 'x.seq')
      .select('e.event')
      .where('x.key', '=', KEY_HISTORY)
      .orderBy('x.seq')
      .execute();
    return rows.map((r) => JSON.parse(r.event) as AuditEvent);
  }

  /**
   * Whether this process's key is the one that signs now: the key the last rotation handed over to, or,
   * before any rotation, the key of the latest checkpoint. A replica left on a rotated-away key, or given
   * a new key before the rotation was recorded, does not sign: its checkpoints would break the history.
   */
  async signsNow(): Promise<boolean> {
    // Asked before every checkpoint and receipt batch: a rotation is seen within a few seconds.
    if (this.signsNowAt && Date.now() - this.signsNowAt.at < 5000) return this.signsNowAt.value;
    const value = await this.checkSignsNow();
    this.signsNowAt = { value, at: Date.now() };
    return value;
  }

  private signsNowAt: { value: boolean; at: number } | undefined;

  private async checkSignsNow(): Promise<boolean> {
    const rotations = await this.keyRotations();
    const last = rotations.at(-1)?.detail as { next?: string } | undefined;
    if (last) return last.next === this.verifier;
    const latest = await this.latestCheckpoint();
    return !latest || signedBy(latest.note, keyId(this.options.origin, this.publicKey));
  }

  /** Signs a checkpoint if the log grew since the last one (one replica at a time, by a catalog lease). */
  async checkpoint(): Promise<string | undefined> {
    await this.flush();
    const size = await this.catchUp();
    if (size === this.lastSigned || size === 0) return undefined;
    if (!this.options.key) throw new AuditLogError('no audit signing key: checkpoints cannot be signed here');
    if (!(await this.signsNow())) {
      this.options.logger?.error(
        { verifier: this.verifier },
        'this audit signing key is not the one the key history says signs now: no checkpoint signed here (configure the current key, or rotate with cairn audit rotate-key)',
      );
      return undefined;
    }
    const root = this.tree.root();
    const note = signCheckpoint({ origin: this.options.origin, size, root }, this.options.origin, this.options.key);
    const inserted = await this.db
      .insertInto('audit_checkpoints')
      .values({ size, root_hash: root, note, created_at: Date.now() })
      .onConflict((oc) => oc.column('size').doNothing())
      .executeTakeFirst();
    this.lastSigned = size;
    if (Number(inserted.numInsertedOrUpdatedRows ?? 0) > 0) {
      await this.exportToWitness(note, size);
      if (this.options.witnesses?.length)
        await submitToWitnesses(
          { db: this.db, consistencyProof: (a, b) => this.consistencyProof(a, b), logger: this.options.logger },
          this.options.witnesses,
          note,
          size,
        );
    }
    return note;
  }

  private async exportToWitness(note: string, size: number): Promise<void> {
    const w = this.options.witness;
    if (!w) return;
    try {
      if (/^https?:\/\//.test(w)) {
        const r = await fetch(w, {
          method: 'POST',
          body: note,
          headers: { 'Content-Type': 'text/plain; charset=utf-8' },
          signal: AbortSignal.timeout(5000),
        });
        if (!r.ok) throw new Error(`witness answered ${r.status}`);
      } else {
        mkdirSync(w, { recursive: true });
        await writeFile(path.join(w, `checkpoint.${size}`), note);
        await writeFile(path.join(w, 'checkpoint.tmp'), note);
        await rename(path.join(w, 'checkpoint.tmp'), path.join(w, 'checkpoint'));
      }
    } catch (err) {
      this.options.logger?.error({ err: (err as Error).message, witness: w }, 'checkpoint not exported to the witness');
    }
  }

  /** The witnesses' cosignature lines of the checkpoint at `size` (appended to its note, it stays a valid signed note). */
  async cosignatures(size: number): Promise<string[]> {
    const rows = await this.db
      .selectFrom('audit_cosignatures')
      .select('line')
      .where('size', '=', size)
      .orderBy('witness')
      .execute();
    return rows.map((r) => r.line);
  }

  async latestCheckpoint(): Promise<{ size: number; note: string } | undefined> {
    const r = await this.db
      .selectFrom('audit_checkpoints')
      .select(['size', 'note'])
      .orderBy('size', 'desc')
      .limit(1)
      .executeTakeFirst();
    return r && { size: Number(r.size), note: r.note };
  }

  async entries(start: number, end: number): Promise<StoredEntry[]> {
    const rows = await this.db
      .selectFrom('audit_events')
      .select(['seq', 'event', 'leaf_hash'])
      .where('seq', '>=', start)
      .where('seq', '<', end)
      .orderBy('seq')
      .execute();
    return rows.map((r) => ({ seq: Number(r.seq), event: r.event, leafHash: bytes(r.leaf_hash) }));
  }

  async inclusionProof(index: number, size: number): Promise<Hash[]> {
    await this.catchUp();
    if (size > this.tree.size) throw new AuditLogError(`the log has only ${this.tree.size} entries`);
    return this.tree.inclusionProof(index, size);
  }

  async consistencyProof(from: number, to: number): Promise<Hash[]> {
    await this.catchUp();
    if (to > this.tree.size) throw new AuditLogError(`the log has only ${this.tree.size} entries`);
    return this.tree.consistencyProof(from, to);
  }

  /**
   * Indexes the events appended before the index existed (or by a replica of an older version), once:
   * every append indexes its own events, so only the range below the first indexed append is missing.
   */
  private async indexOlderEvents(): Promise<void> {
    const head = await this.db.selectFrom('audit_index_head').select('indexed').where('id', '=', 1).executeTakeFirst();
    const size = this.tree.size;
    for (let from = Number(head?.indexed ?? 0); from < size; from += 5000) {
      const rows = await this.db
        .selectFrom('audit_events')
        .select(['seq', 'event'])
        .where('seq', '>=', from)
        .where('seq', '<', Math.min(size, from + 5000))
        .orderBy('seq')
        .execute();
      const keys = rows.flatMap((r) =>
        indexKeys(JSON.parse(r.event) as AuditEvent).map((key) => ({ key, seq: Number(r.seq) })),
      );
      await this.db.transaction().execute(async (trx) => {
        for (let i = 0; i < keys.length; i += 500)
          await trx
            .insertInto('audit_index')
            .values(keys.slice(i, i + 500))
            .onConflict((oc) => oc.doNothing())
            .execute();
        await trx
          .updateTable('audit_index_head')
          .set({ indexed: Math.min(size, from + 5000) })
          .where('id', '=', 1)
          .where('indexed', '<', Math.min(size, from + 5000))
          .execute();
      });
    }
  }

  /** Events about a repository, a digest or an identity (oldest first), at most `limit`; from the index. */
  async search(q: {
    repository?: string;
    digest?: string;
    identity?: string;
    /** Appended at or after / before these times (ms). */
    since?: number;
    until?: number;
    /** Newest first (an auditor's view) instead of in log order. */
    newest?: boolean;
    limit?: number;
  }): Promise<AuditEvent[]> {
    // The most selective key leads; the others are checked on the parsed events.
    const lead =
      q.digest !== undefined
        ? `d:${q.digest}`
        : q.identity !== undefined
          ? `i:${q.identity}`
          : q.repository !== undefined
            ? `r:${q.repository}`
            : undefined;
    const order = q.newest ? 'desc' : 'asc';
    let query =
      lead === undefined
        ? this.db.selectFrom('audit_events as e').select('e.event').orderBy('e.seq', order)
        : this.db
            .selectFrom('audit_index as x')
            .innerJoin('audit_events as e', 'e.seq', 'x.seq')
            .select('e.event')
            .where('x.key', '=', lead)
            .orderBy('x.seq', order);
    if (q.since !== undefined) query = query.where('e.created_at', '>=', q.since);
    if (q.until !== undefined) query = query.where('e.created_at', '<', q.until);
    // The canonical JSON puts each field as "name":"value": a LIKE narrows the rest (its _ and %
    // wildcards only widen the match), and the parse below decides.
    for (const [k, v] of Object.entries({ repository: q.repository, digest: q.digest, identity: q.identity })) {
      if (v !== undefined && lead !== `${k[0]}:${v}`)
        query = query.where('e.event', 'like', `%"${k}":${JSON.stringify(v)}%`);
    }
    const rows = await query.limit(q.limit ?? 1000).execute();
    return rows
      .map((r) => JSON.parse(r.event) as AuditEvent)
      .filter(
        (e) =>
          (q.repository === undefined || e.repository === q.repository) &&
          (q.digest === undefined ||
            e.digest === q.digest ||
            e.detail?.subject === q.digest ||
            e.detail?.previousDigest === q.digest) &&
          (q.identity === undefined || e.identity === q.identity),
      );
  }
}

/** The index keys of an event: what an investigator looks events up by. */
function indexKeys(e: Pick<NewEvent, 'type' | 'digest' | 'repository' | 'identity' | 'detail'>): string[] {
  const keys: string[] = [];
  // The key history: every replica looks it up before signing a checkpoint.
  if (e.type === KEY_ROTATED) keys.push(KEY_HISTORY);
  if (e.digest) keys.push(`d:${e.digest}`);
  if (e.repository) keys.push(`r:${e.repository}`);
  if (e.identity) keys.push(`i:${e.identity}`);
  // A manifest push names its subject and previous digest too: they are about those artifacts as well.
  for (const k of ['subject', 'previousDigest'] as const) {
    const v = e.detail?.[k];
    if (typeof v === 'string' && v !== e.digest) keys.push(`d:${v}`);
  }
  return keys.filter((k) => k.length <= 600);
}
