import { createPublicKey, verify } from 'node:crypto';
import type { Catalog } from '../catalog/catalog';
import type { AuditLog } from './audit-log';
import type { NewEvent } from './events';

export interface Region {
  name: string;
  publicKey: Buffer;
}

/**
 * The primary's side of read-only regions: a batch of a region's audit records, signed with the region's
 * key, is appended to this log (each event marked with the region, its number there and its time), once:
 * the highest number taken per region is a catalog cursor, and what is at or below it is skipped.
 */
export class RegionIngest {
  constructor(
    private readonly log: Pick<AuditLog, 'append'>,
    private readonly regions: Region[],
    private readonly cursors: Pick<Catalog, 'readCursor' | 'writeCursor'>,
  ) {}

  async ingest(raw: Buffer, signature: string | undefined): Promise<{ status: number; body: object }> {
    let batch: { origin?: unknown; events?: unknown };
    try {
      batch = JSON.parse(raw.toString('utf8')) as typeof batch;
    } catch {
      return { status: 400, body: { error: 'not JSON' } };
    }
    const region = this.regions.find((r) => r.name === batch.origin);
    if (!region)
      return { status: 404, body: { error: `no region ${String(batch.origin)} is configured (audit.regions)` } };
    const key = createPublicKey({
      key: { kty: 'OKP', crv: 'Ed25519', x: region.publicKey.toString('base64url') },
      format: 'jwk',
    });
    if (!signature || !verify(null, raw, key, Buffer.from(signature, 'base64')))
      return { status: 403, body: { error: "the batch is not signed by the region's audit key" } };
    if (!Array.isArray(batch.events)) return { status: 400, body: { error: 'events must be a list' } };
    const cursor = `region:${region.name}`;
    let taken = (await this.cursors.readCursor(cursor)) ?? 0;
    const events = (batch.events as { n?: unknown; time?: unknown; event?: NewEvent }[])
      .filter((e) => Number.isSafeInteger(e.n) && typeof e.event?.type === 'string')
      .sort((a, b) => (a.n as number) - (b.n as number));
    for (const e of events) {
      const n = e.n as number;
      if (n <= taken) continue;
      await this.log.append({
        ...e.event!,
        detail: { ...(e.event!.detail ?? {}), region: region.name, regionSeq: n, regionTime: String(e.time) },
      });
      taken = n;
      await this.cursors.writeCursor(cursor, taken);
    }
    return { status: 200, body: { acked: taken } };
  }
}
