import { schedulePeriodic, type LeaseStore } from '../catalog/exclusive-job';
import type { Logger } from '../observability/logger';
import type { DataKeyStore } from '../storage/data-keys';

/** What re-wrapping needs of the key ring (src/keys/key-ring.ts). */
export interface RewrapRing {
  readonly current: { readonly id: string };
  wrap(dataKey: Buffer): Promise<Buffer>;
  unwrap(wrapped: Buffer): Promise<Buffer>;
}

export interface RewrapResult {
  rewrapped: number;
  /** Keys another replica re-wrapped first. */
  skipped: number;
  /** Data keys per key-encryption key afterwards: only the current one's when done. */
  remaining: Record<string, number>;
}

/**
 * After a rotation of the key-encryption key: every data key still wrapped by a previous key is unwrapped
 * and wrapped again by the current one. No blob byte is read or re-encrypted. Each key is replaced only
 * if still wrapped by the key it was read under (a compare-and-set), so replicas and runs that overlap
 * never undo each other; a key that no configured key can unwrap stops the run loudly.
 */
export async function rewrapDataKeys(
  keys: DataKeyStore,
  ring: RewrapRing,
  signal?: AbortSignal,
  batch = 200,
): Promise<RewrapResult> {
  let rewrapped = 0;
  let skipped = 0;
  const seen = new Set<string>();
  for (;;) {
    signal?.throwIfAborted();
    const todo = (await keys.dataKeysNotWrappedBy(ring.current.id, batch)).filter((k) => !seen.has(k.keyId));
    if (todo.length === 0) break;
    for (const k of todo) {
      seen.add(k.keyId);
      const dataKey = await ring.unwrap(k.wrapped);
      const wrapped = await ring.wrap(dataKey);
      dataKey.fill(0);
      if (await keys.rewrapDataKey(k.keyId, k.kekId, ring.current.id, wrapped)) rewrapped++;
      else skipped++;
    }
  }
  return { rewrapped, skipped, remaining: Object.fromEntries(await keys.dataKeyCounts()) };
}

/** Re-wraps in the background every `everyMs`, one replica at a time. */
export function startRewrap(
  leases: LeaseStore,
  keys: DataKeyStore,
  ring: RewrapRing,
  everyMs: number,
  logger: Logger,
  /** Re-seals the catalog's sealed secrets too; answers how many changed. */
  resealSecrets: () => Promise<number> = async () => 0,
): () => Promise<void> {
  return schedulePeriodic(leases, {
    name: 'rewrap-data-keys',
    everyMs,
    leaseMs: 120_000,
    onError: (err) => logger.error({ err }, 're-wrapping data keys failed'),
    pass: async (signal) => {
      const r = await rewrapDataKeys(keys, ring, signal);
      const secrets = await resealSecrets();
      if (r.rewrapped > 0 || secrets > 0)
        logger.info({ ...r, secrets }, 'data keys and secrets re-wrapped by the current key-encryption key');
    },
  });
}
