import type { Kysely } from 'kysely';
import type { Database } from '../catalog/schema';
import { CheckpointError, openCheckpoint, verifierKey } from './checkpoint';
import { cosignedAt } from './cosignature';
import { keyForSize, keyHistory, publicKeyOf } from '../keys/key-history';
import { CompactRange } from './compact-range';
import type { AuditEvent } from './events';
import { canonicalJson } from './canonical-json';
import { leafHash } from './merkle';

export interface VerifyReport {
  ok: boolean;
  size: number;
  checkpointsVerified: number;
  /** Every inconsistency found, the first one first. */
  problems: string[];
}

const bytes = (v: unknown): Buffer => (Buffer.isBuffer(v) ? v : Buffer.from(v as Uint8Array));

/**
 * Recomputes the whole log from its entries and checks it against everything that vouches for it: each
 * entry's own hash and sequence number, the log head, every stored checkpoint's signature and root, a
 * checkpoint kept elsewhere (consistency: the log has not been rewritten since), and the catalog (every
 * manifest, tag and blob link has its event; every manifest an event mentions exists or its deletion is
 * logged). Reads the tables directly: it trusts nothing the registry computed.
 */
export async function verifyAuditLog(
  db: Kysely<Database>,
  options: {
    origin: string;
    publicKey: Buffer;
    saved?: string;
    crossCheck?: boolean;
    blobExists?: (digest: string) => Promise<boolean>;
    /**
     * Witnesses that must have cosigned: the saved checkpoint (its cosignature lines), or without one
     * the latest checkpoint with the cosignatures stored beside it.
     */
    witnesses?: { name: string; publicKey: Buffer }[];
  },
): Promise<VerifyReport> {
  const problems: string[] = [];
  const range = new CompactRange();
  const roots = new Map<number, Buffer>();
  const events: AuditEvent[] = [];
  const checkpoints = await db
    .selectFrom('audit_checkpoints')
    .select(['size', 'root_hash', 'note'])
    .orderBy('size')
    .execute();
  const wanted = new Set(checkpoints.map((c) => Number(c.size)));
  let saved: { size: number; root: Buffer } | undefined;
  // The saved checkpoint's size, read before its signature can be checked (by the key of that size).
  const savedSize = options.saved === undefined ? undefined : Number(options.saved.split('\n')[1]);
  if (savedSize !== undefined && Number.isSafeInteger(savedSize)) wanted.add(savedSize);

  let expected = 0;
  for (;;) {
    const rows = await db
      .selectFrom('audit_events')
      .select(['seq', 'event', 'leaf_hash'])
      .where('seq', '>=', expected)
      .orderBy('seq')
      .limit(5000)
      .execute();
    if (rows.length === 0) break;
    for (const r of rows) {
      const seq = Number(r.seq);
      if (seq !== expected) problems.push(`entry ${expected} is missing (the next stored entry is ${seq})`);
      let event: AuditEvent | undefined;
      try {
        event = JSON.parse(r.event) as AuditEvent;
      } catch {
        problems.push(`entry ${seq} is not JSON`);
      }
      if (event) {
        if (event.seq !== seq)
          problems.push(`entry ${seq} holds the event numbered ${event.seq} (entries reordered or moved)`);
        if (canonicalJson(event) !== r.event)
          problems.push(`entry ${seq} is not in canonical form (edited outside the registry)`);
        events.push(event);
      }
      const h = leafHash(Buffer.from(r.event));
      if (!h.equals(bytes(r.leaf_hash)))
        problems.push(`entry ${seq}: its stored leaf hash does not match its content (edited)`);
      range.append(h);
      if (wanted.has(range.size)) roots.set(range.size, range.root());
      expected = seq + 1;
    }
  }
  const size = range.size;
  const head = await db.selectFrom('audit_head').select('size').where('id', '=', 1).executeTakeFirst();
  if (!head || Number(head.size) !== size)
    problems.push(
      `the log head says ${head ? Number(head.size) : 'nothing'} entries, the table holds ${size} (entries deleted or added outside the registry)`,
    );

  // Which key signed what: the given key must be in the history the log's rotation events describe.
  const anchor = verifierKey(options.origin, options.publicKey);
  const history = keyHistory(events, anchor);
  problems.push(...history.problems);
  if (!history.keys.includes(anchor))
    problems.push(`the verifier key given is not in this log's key history (${history.keys.length} key(s))`);
  const keyAt = (n: number) => publicKeyOf(keyForSize(history, n)) ?? options.publicKey;
  if (options.saved !== undefined) {
    try {
      saved = openCheckpoint(options.saved, options.origin, keyAt(savedSize ?? 0));
    } catch (err) {
      problems.push(`the saved checkpoint does not verify: ${(err as Error).message}`);
    }
  }

  let checkpointsVerified = 0;
  for (const c of checkpoints) {
    const csize = Number(c.size);
    try {
      const cp = openCheckpoint(c.note, options.origin, keyAt(csize));
      if (cp.size !== csize || !cp.root.equals(bytes(c.root_hash)))
        problems.push(`checkpoint row ${csize} does not match its own signed note`);
    } catch (err) {
      problems.push(`checkpoint ${csize}: ${(err as CheckpointError).message}`);
      continue;
    }
    const root = roots.get(csize);
    if (csize > size) problems.push(`checkpoint ${csize} is larger than the log (${size}): entries were removed`);
    else if (!root || !root.equals(bytes(c.root_hash)))
      problems.push(`checkpoint ${csize}: the entries no longer hash to its signed root (history rewritten)`);
    else checkpointsVerified++;
  }
  if (saved) {
    if (saved.size > size)
      problems.push(`the saved checkpoint covers ${saved.size} entries but the log holds ${size}: it was truncated`);
    else if (!roots.get(saved.size)?.equals(saved.root))
      problems.push(
        `the log is not consistent with the saved checkpoint of size ${saved.size}: history was rewritten (a fork)`,
      );
    else checkpointsVerified++;
  }
  if (options.witnesses?.length) {
    let note = options.saved;
    let what = 'the saved checkpoint';
    if (note === undefined && checkpoints.length) {
      const last = checkpoints.at(-1)!;
      const lines = await db
        .selectFrom('audit_cosignatures')
        .select('line')
        .where('size', '=', Number(last.size))
        .execute();
      note = `${last.note}${lines.map((l) => `${l.line}\n`).join('')}`;
      what = `the latest checkpoint (${Number(last.size)})`;
    }
    for (const w of options.witnesses)
      if (note === undefined || cosignedAt(note, w.name, w.publicKey) === undefined)
        problems.push(`${what} carries no valid cosignature by the witness ${w.name}`);
  }
  if (options.crossCheck !== false) problems.push(...(await crossCheck(db, events)));
  if (options.blobExists) problems.push(...(await checkStorage(events, options.blobExists)));
  return { ok: problems.length === 0, size, checkpointsVerified, problems };
}

/** The catalog against the log: what exists must have been logged, what was logged must exist or be logged gone. */
async function crossCheck(db: Kysely<Database>, events: AuditEvent[]): Promise<string[]> {
  const problems: string[] = [];
  const manifests = new Map<string, boolean>(); // repo@digest → present per the log
  const tags = new Map<string, string | undefined>(); // repo:tag → digest per the log
  const links = new Set<string>(); // repo@digest ever linked per the log
  for (const e of events) {
    const key = `${e.repository}@${e.digest}`;
    switch (e.type) {
      case 'manifest.push':
      case 'manifest.adopt':
        manifests.set(key, true);
        if (e.tag) tags.set(`${e.repository}:${e.tag}`, e.digest);
        break;
      case 'manifest.delete':
        manifests.set(key, false);
        for (const [t, d] of tags) if (t.startsWith(`${e.repository}:`) && d === e.digest) tags.set(t, undefined);
        break;
      case 'tag.delete':
        tags.set(`${e.repository}:${e.tag}`, undefined);
        break;
      case 'tag.adopt':
        tags.set(`${e.repository}:${e.tag}`, e.digest);
        break;
      case 'blob.push':
      case 'blob.mount':
      case 'blob.adopt':
        links.add(key);
        break;
    }
  }
  const catalogManifests = await db
    .selectFrom('manifests as m')
    .innerJoin('repositories as r', 'r.id', 'm.repository_id')
    .select(['r.name', 'm.digest'])
    .execute();
  const present = new Set(catalogManifests.map((m) => `${m.name}@${m.digest}`));
  for (const m of present)
    if (!manifests.get(m)) problems.push(`manifest ${m} is in the catalog without a logged push`);
  for (const [m, there] of manifests)
    if (there && !present.has(m)) problems.push(`manifest ${m} was pushed but is gone without a logged deletion`);
  const catalogTags = await db
    .selectFrom('tags as t')
    .innerJoin('repositories as r', 'r.id', 't.repository_id')
    .select(['r.name', 't.name as tag', 't.digest'])
    .execute();
  const tagged = new Set<string>();
  for (const t of catalogTags) {
    const k = `${t.name}:${t.tag}`;
    tagged.add(k);
    const logged = tags.get(k);
    if (logged === undefined) problems.push(`tag ${k} → ${t.digest} is in the catalog without a logged push`);
    else if (logged !== t.digest)
      problems.push(`tag ${k} points to ${t.digest} but the log last set it to ${logged} (moved outside the registry)`);
  }
  for (const [k, d] of tags)
    if (d !== undefined && !tagged.has(k))
      problems.push(`tag ${k} was set to ${d} but is gone without a logged deletion`);
  const catalogLinks = await db
    .selectFrom('repository_blobs as b')
    .innerJoin('repositories as r', 'r.id', 'b.repository_id')
    .select(['r.name', 'b.digest'])
    .execute();
  for (const l of catalogLinks)
    if (!links.has(`${l.name}@${l.digest}`))
      problems.push(`blob ${l.name}@${l.digest} is linked in the catalog without a logged push or mount`);
  return problems;
}

/** Every blob the log says was stored is still in storage, unless its collection by `cairn gc` is logged after. */
async function checkStorage(events: AuditEvent[], exists: (digest: string) => Promise<boolean>): Promise<string[]> {
  const last = new Map<string, string>();
  for (const e of events) {
    if (!e.digest) continue;
    if (e.type === 'blob.push' || e.type === 'blob.mount' || e.type === 'blob.adopt' || e.type === 'gc.collect')
      last.set(e.digest, e.type);
  }
  const problems: string[] = [];
  for (const [digest, type] of last) {
    if (type !== 'gc.collect' && !(await exists(digest)))
      problems.push(`blob ${digest} was stored (${type}) but is missing from storage without a logged collection`);
  }
  return problems;
}
