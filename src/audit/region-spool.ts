import { mkdirSync } from 'node:fs';
import { open, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Ed25519Signer } from '../keys/signer';
import type { NewEvent } from './events';

export const REGION_SIGNATURE_HEADER = 'Cairn-Region-Signature';

interface Spooled {
  n: number;
  time: string;
  event: NewEvent;
}

/**
 * The audit log of a read-only region: its catalog is a standby it cannot write, so what it must record
 * (pulls, denials, logins) is appended to a local file (fsync'd before the append resolves) and sent to
 * the primary in batches signed with the region's audit key; the primary takes them into its own log
 * (POST /audit/regions/ingest) and answers how far it has them, and only then are they dropped here. A
 * primary that is down loses nothing: the file keeps growing until it answers.
 */
export class RegionSpool {
  private readonly file: string;
  private readonly ackFile: string;
  private last = 0;
  private acked = 0;
  private lock: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | undefined;
  private sending: Promise<void> | undefined;

  constructor(
    dir: string,
    private readonly origin: string,
    private readonly signer: Ed25519Signer,
    private readonly primary: string,
    private readonly logger?: { warn(o: object, m: string): void },
  ) {
    mkdirSync(dir, { recursive: true });
    this.file = path.join(dir, 'events.jsonl');
    this.ackFile = path.join(dir, 'acked');
  }

  private serial<T>(work: () => Promise<T>): Promise<T> {
    const next = this.lock.then(work, work);
    this.lock = next.catch(() => undefined);
    return next;
  }

  private async entries(): Promise<Spooled[]> {
    const text = await readFile(this.file, 'utf8').catch(() => '');
    const out: Spooled[] = [];
    for (const line of text.split('\n')) {
      if (!line) continue;
      try {
        out.push(JSON.parse(line) as Spooled);
      } catch {
        // a line torn by a crash in the middle of an append: it was never acknowledged to anyone
      }
    }
    return out;
  }

  async open(): Promise<void> {
    this.acked = Number((await readFile(this.ackFile, 'utf8').catch(() => '0')).trim()) || 0;
    const all = await this.entries();
    this.last = Math.max(this.acked, ...all.map((e) => e.n));
  }

  /** Appends events durably; they reach the primary with the next batch. */
  add(events: NewEvent[]): Promise<void> {
    return this.serial(async () => {
      const time = new Date().toISOString();
      const lines = events.map((event) => `${JSON.stringify({ n: ++this.last, time, event })}\n`).join('');
      const fh = await open(this.file, 'a');
      try {
        await fh.appendFile(lines);
        await fh.datasync();
      } finally {
        await fh.close();
      }
    });
  }

  /** How many records the primary has not confirmed yet. */
  pending(): number {
    return this.last - this.acked;
  }

  start(everyMs: number): () => Promise<void> {
    this.timer = setInterval(() => void this.send(), everyMs);
    this.timer.unref();
    return async () => {
      if (this.timer) clearInterval(this.timer);
      await this.send();
    };
  }

  /** Sends what the primary has not confirmed; a failure is logged and retried at the next tick. */
  send(): Promise<void> {
    this.sending ??= this.sendNow()
      .catch((err) =>
        this.logger?.warn(
          { primary: this.primary, pending: this.pending(), err: (err as Error).message },
          'audit records not sent to the primary yet',
        ),
      )
      .finally(() => (this.sending = undefined));
    return this.sending;
  }

  private async sendNow(): Promise<void> {
    for (;;) {
      const batch = (await this.serial(() => this.entries())).filter((e) => e.n > this.acked).slice(0, 500);
      if (!batch.length) return;
      const body = Buffer.from(JSON.stringify({ origin: this.origin, events: batch }));
      const res = await fetch(`${this.primary.replace(/\/+$/, '')}/audit/regions/ingest`, {
        method: 'POST',
        body,
        headers: {
          'Content-Type': 'application/json',
          [REGION_SIGNATURE_HEADER]: this.signer.sign(body).toString('base64'),
        },
        signal: AbortSignal.timeout(30_000),
      });
      const text = await res.text();
      if (res.status !== 200) throw new Error(`the primary answered ${res.status}: ${text.slice(0, 300)}`);
      const acked = Number((JSON.parse(text) as { acked?: unknown }).acked);
      if (!Number.isSafeInteger(acked) || acked < batch[0]!.n - 1) throw new Error(`the primary acknowledged ${text}`);
      await this.serial(async () => {
        this.acked = Math.max(this.acked, acked);
        await writeFile(`${this.ackFile}.tmp`, String(this.acked));
        await rename(`${this.ackFile}.tmp`, this.ackFile);
        // Everything confirmed: start the file afresh (the numbering goes on).
        if (this.acked >= this.last) await writeFile(this.file, '');
      });
    }
  }
}
