import type { Kysely } from 'kysely';
import type { Database } from '../catalog/schema';
import { cosignedAt, formatAddCheckpoint } from './cosignature';
import type { Hash } from './merkle';

export interface WitnessTarget {
  /** The witness's add-checkpoint URL (C2SP tlog-witness: `<witness URL>/add-checkpoint`). */
  url: string;
  name: string;
  publicKey: Buffer;
}

export interface SubmitDeps {
  db: Kysely<Database>;
  consistencyProof(from: number, to: number): Promise<Hash[]>;
  logger?: { error(o: object, m: string): void; warn(o: object, m: string): void };
}

/**
 * Submits a newly signed checkpoint to each witness from the size that witness last cosigned (learned
 * again from a 409 answer), keeps each valid cosignature with the checkpoint (table audit_cosignatures),
 * and moves the witness's position. A witness that refuses or is down is logged; the next checkpoint
 * tries again from where it stands.
 */
export async function submitToWitnesses(
  s: SubmitDeps,
  witnesses: WitnessTarget[],
  note: string,
  size: number,
): Promise<void> {
  for (const w of witnesses) {
    try {
      await submit(s, w, note, size);
    } catch (err) {
      s.logger?.error({ witness: w.url, size, err: (err as Error).message }, 'checkpoint not cosigned by the witness');
    }
  }
}

async function submit(s: SubmitDeps, w: WitnessTarget, note: string, size: number): Promise<void> {
  const row = await s.db
    .selectFrom('audit_witness_positions')
    .select('size')
    .where('witness', '=', w.url)
    .executeTakeFirst();
  let old = row ? Number(row.size) : 0;
  for (let attempt = 0; attempt < 2; attempt++) {
    if (old > size) throw new Error(`the witness has cosigned size ${old}, beyond this checkpoint (${size})`);
    const proof = old > 0 && old < size ? await s.consistencyProof(old, size) : [];
    const res = await fetch(w.url, {
      method: 'POST',
      body: formatAddCheckpoint({ oldSize: old, proof, note }),
      headers: { 'Content-Type': 'text/plain; charset=utf-8' },
      signal: AbortSignal.timeout(10_000),
    });
    const body = await res.text();
    if (res.status === 409 && /^\d+\n?$/.test(body)) {
      old = Number(body.trim());
      continue;
    }
    if (res.status !== 200) throw new Error(`witness answered ${res.status}: ${body.trim().slice(0, 300)}`);
    const lines = body.split('\n').filter(Boolean);
    const valid = lines.filter((l) => cosignedAt(`${note}${l}\n`, w.name, w.publicKey) !== undefined);
    if (!valid.length) throw new Error('the witness answered without a valid cosignature by its key');
    await s.db
      .insertInto('audit_cosignatures')
      .values({ size, witness: w.name, line: valid[0]!, created_at: Date.now() })
      .onConflict((oc) => oc.columns(['size', 'witness']).doNothing())
      .execute();
    await s.db
      .insertInto('audit_witness_positions')
      .values({ witness: w.url, size })
      .onConflict((oc) => oc.column('witness').doUpdateSet({ size }))
      .execute();
    return;
  }
  throw new Error('the witness kept asking for another old size');
}
