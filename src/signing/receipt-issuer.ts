import { inRepository } from '../storage/route-context';
import type { Catalog } from '../catalog/catalog';
import type { AuditLog } from '../audit/audit-log';
import type { AuditEvent } from '../audit/events';
import { runExclusive } from '../catalog/exclusive-job';
import { WokenJob } from '../catalog/woken-job';
import type { Logger } from '../observability/logger';
import { parseManifest } from '../oci/manifest-parser';
import { signatureOf } from './ingest';
import type { Ed25519Signer } from '../keys/signer';
import { RECEIPT_TYPE, prepareReceipt, type PreparedReceipt, type ReceiptDeps, type ReceiptSubject } from './receipts';

const CURSOR = 'receipts';
const LEASE_MS = 60_000;
const BATCH = 256;
// Receipts written in one transaction: a transaction holds SQLite's one writer connection, and pushes wait.
const PER_TRANSACTION = 64;

type Proofs = Awaited<ReturnType<AuditLog['proofsOf']>>;

export interface ReceiptIssuerDeps extends ReceiptDeps {
  catalog: ReceiptDeps['catalog'] &
    Pick<Catalog, 'getManifest' | 'listReferrers' | 'readCursor' | 'writeCursor' | 'acquireLease' | 'releaseLease'>;
  audit: ReceiptDeps['audit'] & Pick<AuditLog, 'eventsFrom' | 'proofsOf' | 'signsNow'>;
  logger: Pick<Logger, 'error' | 'info'>;
}

/**
 * Issues the registry's receipts in the background, from the audit log, so that a manifest PUT does not
 * wait for them: every acknowledged push is in the log before the client hears of it, and the issuer
 * walks the log in order from a cursor kept in the catalog, signing a batch of receipts at one tree size
 * and one group commit. Nothing is lost across a crash: the cursor moves only after a batch is written,
 * and the first batch after (re)starting skips the pushes a crashed run had already covered. One replica
 * issues at a time (a catalog lease); any replica's push wakes it, and a sweep catches up with pushes
 * that arrived at another replica.
 */
export class ReceiptIssuer {
  private readonly job: WokenJob;

  constructor(
    private readonly s: ReceiptIssuerDeps,
    options: { delayMs: number; sweepMs: number },
  ) {
    this.job = new WokenJob({
      ...options,
      // Another replica holding the lease issues; this one's sweep looks again later.
      pass: async () => (await runExclusive(s.catalog, 'receipts', LEASE_MS, (signal) => this.pass(signal))).ran,
      onError: (err) =>
        s.logger.error({ err: (err as Error).message }, 'receipts not issued; retrying on the next push or sweep'),
    });
  }

  /** A push was acknowledged: its receipt is owed. Batches what arrives within `delayMs`. */
  wake(): void {
    this.job.wake();
  }

  /** What is still owed when stopped is issued by the next start, from the cursor. */
  start(): () => Promise<void> {
    return this.job.start();
  }

  /** Resolves once every receipt owed so far is written (or a pass failed): for shutdown and tests. */
  settled(): Promise<void> {
    return this.job.settled();
  }

  /** Issues every receipt owed from the cursor to the end of the log. */
  private async pass(signal: AbortSignal): Promise<number> {
    const key = this.s.audit.signingKey;
    // A replica whose key was rotated away (or not yet rotated in) leaves receipts to one with the current key.
    if (!key || !(await this.s.audit.signsNow())) return 0;
    let cursor = (await this.s.catalog.readCursor(CURSOR)) ?? 0;
    let first = true;
    let issued = 0;
    for (;;) {
      if (signal.aborted) throw signal.reason;
      const events = await this.s.audit.eventsFrom(cursor, BATCH);
      if (events.length === 0) return issued;
      const owed: ReceiptSubject[] = [];
      for (const e of events) {
        const subject = await this.owed(e, first);
        if (subject) owed.push(subject);
      }
      if (owed.length) {
        const at = await this.s.audit.proofsOf(owed.map((o) => o.seq));
        for (let i = 0; i < owed.length; i += PER_TRANSACTION)
          await this.write(key, owed.slice(i, i + PER_TRANSACTION), at);
        issued += owed.length;
      }
      cursor = events.at(-1)!.seq + 1;
      await this.s.catalog.writeCursor(CURSOR, cursor);
      first = false;
    }
  }

  /**
   * Signs a group of receipts and writes them in one catalog transaction, then logs what they linked
   * (one group commit). Written one by one, a receipt cost more server time than the push it is of:
   * three commits of its own.
   */
  private async write(key: Ed25519Signer, group: ReceiptSubject[], at: Proofs): Promise<void> {
    const linked = new Set<string>();
    const prepared: PreparedReceipt[] = [];
    try {
      for (const o of group) {
        const { leaf, proof } = at.proofs.get(o.seq)!;
        // Its blobs are stored in the route of the repository it is for.
        prepared.push(
          await inRepository(o.repository, () =>
            prepareReceipt(this.s, key, o, { size: at.size, root: at.root, leaf, proof }, linked),
          ),
        );
      }
      await this.s.catalog.putIssued(prepared.map((p) => p.entry));
    } catch (err) {
      await Promise.all(prepared.map((p) => p.discard()));
      throw err;
    }
    await Promise.all(prepared.flatMap((p) => p.events.map((e) => this.s.audit.append(e))));
  }

  /**
   * The receipt a logged event calls for: a manifest push by a client (not the registry's own receipts),
   * of a manifest still stored that is no referrer or signature (a receipt of those would only multiply).
   */
  private async owed(e: AuditEvent, checkExisting: boolean): Promise<ReceiptSubject | undefined> {
    if (e.type !== 'manifest.push' || !e.repository || !e.digest) return undefined;
    if (e.detail?.kind === 'receipt' || e.detail?.subject) return undefined;
    const m = await this.s.catalog.getManifest(e.repository, e.digest);
    if (!m) return undefined;
    try {
      if (signatureOf(parseManifest(m.content, m.mediaType), e.tag)) return undefined;
    } catch {
      return undefined;
    }
    if (checkExisting) {
      const existing = await this.s.catalog.listReferrers(e.repository, e.digest, RECEIPT_TYPE);
      if (existing.some((r) => r.annotations?.['dev.cairn.receipt.audit-index'] === String(e.seq))) return undefined;
    }
    return {
      repository: e.repository,
      digest: e.digest,
      mediaType: m.mediaType,
      size: m.size,
      ...(e.tag ? { tag: e.tag } : {}),
      pushedBy: e.identity ?? 'anonymous',
      ...(e.source ? { source: e.source } : {}),
      ...(e.requestId ? { requestId: e.requestId } : {}),
      seq: e.seq,
    };
  }
}
