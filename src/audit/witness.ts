import type { Kysely } from 'kysely';
import type { Database } from '../catalog/schema';
import type { Ed25519Signer } from '../keys/signer';
import { CheckpointError, openCheckpoint } from './checkpoint';
import { cosign, noteBody, parseAddCheckpoint } from './cosignature';
import { verifyConsistency } from './merkle';

export interface WitnessedLog {
  name: string;
  publicKey: Buffer;
}

export interface WitnessAnswer {
  status: number;
  contentType: string;
  body: string;
}

const text = (status: number, body: string, contentType = 'text/plain; charset=utf-8'): WitnessAnswer => ({
  status,
  contentType,
  body,
});

/**
 * This registry as a witness of other Cairn logs (C2SP tlog-witness): a checkpoint is cosigned only when
 * it is signed by the log's key and consistent with the last one this witness cosigned for that log, so a
 * log cannot show one history here and another elsewhere without the two disagreeing with each other.
 * What was last cosigned per log is kept in the catalog (table witness_state).
 */
export class Witness {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly logs: WitnessedLog[],
    /** This witness's name in its cosignatures: its own audit.origin. */
    private readonly name: string,
    private readonly signer: () => Ed25519Signer | undefined,
    /** A checkpoint that contradicts what was cosigned before: a fork, or a log rewritten. */
    private readonly onConflict: (detail: Record<string, string | number>) => Promise<void>,
  ) {}

  async addCheckpoint(request: string): Promise<WitnessAnswer> {
    let req;
    try {
      req = parseAddCheckpoint(request);
    } catch (err) {
      return text(400, `${(err as Error).message}\n`);
    }
    const origin = req.note.split('\n', 1)[0] ?? '';
    const log = this.logs.find((l) => l.name === origin);
    if (!log) return text(404, `this witness does not witness ${origin}\n`);
    let c;
    try {
      c = openCheckpoint(req.note, log.name, log.publicKey);
    } catch (err) {
      return text(err instanceof CheckpointError ? 403 : 400, `${(err as Error).message}\n`);
    }
    const signer = this.signer();
    if (!signer) return text(503, 'this witness has no signing key\n');
    const state = await this.db.selectFrom('witness_state').selectAll().where('origin', '=', origin).executeTakeFirst();
    const known = state ? Number(state.size) : 0;
    if (req.oldSize !== known) return text(409, `${known}\n`, 'text/x.tlog.size');
    if (c.size < known) return text(400, 'the checkpoint is smaller than the old size\n');
    if (state) {
      const root = Buffer.from(state.root_hash);
      const consistent =
        c.size === known ? c.root.equals(root) : verifyConsistency(known, c.size, req.proof, root, c.root);
      if (!consistent) {
        await this.onConflict({
          origin,
          cosignedSize: known,
          cosignedRoot: root.toString('base64'),
          presentedSize: c.size,
          presentedRoot: c.root.toString('base64'),
        });
        return c.size === known
          ? text(409, `${known}\n`, 'text/x.tlog.size')
          : text(422, 'the consistency proof does not verify against the last cosigned checkpoint\n');
      }
    }
    const now = Date.now();
    const moved = state
      ? await this.db
          .updateTable('witness_state')
          .set({ size: c.size, root_hash: c.root, updated_at: now })
          .where('origin', '=', origin)
          .where('size', '=', known)
          .executeTakeFirst()
      : await this.db
          .insertInto('witness_state')
          .values({ origin, size: c.size, root_hash: c.root, updated_at: now })
          .onConflict((oc) => oc.column('origin').doNothing())
          .executeTakeFirst();
    const changed = Number(('numUpdatedRows' in moved ? moved.numUpdatedRows : moved.numInsertedOrUpdatedRows) ?? 0);
    // Another request moved this log's state meanwhile: the submitter learns the new size and retries.
    if (changed === 0) return this.addCheckpoint(request);
    return text(200, `${cosign(noteBody(req.note), this.name, signer, Math.floor(now / 1000))}\n`);
  }
}
