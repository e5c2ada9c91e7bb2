import { randomBytes } from 'node:crypto';
import type { DataKeyRecord, DataKeyStore } from '../../src/storage/data-keys';

export interface DataKeyStoreFixture {
  store: DataKeyStore;
  cleanup(): Promise<void>;
}

const record = (owner: string, kekId = 'k1', createdAt = Date.now()): DataKeyRecord => ({
  keyId: randomBytes(16).toString('hex'),
  owner,
  kekId,
  wrapped: randomBytes(69),
  createdAt,
});

/** The behaviour every DataKeyStore must have; run against each catalog engine. */
export function dataKeyStoreContract(name: string, make: () => Promise<DataKeyStoreFixture>): void {
  describe(`DataKeyStore contract: ${name}`, () => {
    let f: DataKeyStoreFixture;
    let store: DataKeyStore;
    beforeEach(async () => {
      f = await make();
      store = f.store;
    });
    afterEach(() => f.cleanup());

    it('keeps a wrapped key byte for byte, found by id and by owner, and moves it to another owner', async () => {
      const r = record('stage:u1');
      await store.insertDataKey(r);
      expect(await store.dataKey(r.keyId)).toEqual(r);
      expect(await store.dataKeysOf('stage:u1')).toEqual([r]);
      await store.setDataKeyOwner(r.keyId, 'blob:sha256:aa');
      expect(await store.dataKeysOf('stage:u1')).toEqual([]);
      expect(await store.dataKeysOf('blob:sha256:aa')).toEqual([{ ...r, owner: 'blob:sha256:aa' }]);
      expect(await store.dataKey('f'.repeat(32))).toBeUndefined();
    });

    it('refuses a second key under the same id', async () => {
      const r = record('stage:u2');
      await store.insertDataKey(r);
      await expect(store.insertDataKey({ ...r, owner: 'stage:u3' })).rejects.toThrow();
      expect(await store.dataKeysOf('stage:u3')).toEqual([]);
    });

    it('destroys one key or every key of an owner, and only those', async () => {
      const a = record('blob:sha256:bb');
      const b = record('blob:sha256:bb');
      const other = record('blob:sha256:cc');
      for (const r of [a, b, other]) await store.insertDataKey(r);
      await store.deleteDataKey(a.keyId);
      expect(await store.dataKeysOf('blob:sha256:bb')).toEqual([b]);
      await store.insertDataKey(a);
      expect(await store.deleteDataKeysOf('blob:sha256:bb')).toBe(2);
      expect(await store.deleteDataKeysOf('blob:sha256:bb')).toBe(0);
      expect(await store.dataKey(other.keyId)).toEqual(other);
    });

    it('re-wraps keys of an old key-encryption key once, counting keys per key-encryption key', async () => {
      const old = [record('blob:sha256:1', 'old'), record('blob:sha256:2', 'old'), record('blob:sha256:3', 'old')];
      const current = record('blob:sha256:4', 'new');
      for (const r of [...old, current]) await store.insertDataKey(r);
      expect(Object.fromEntries(await store.dataKeyCounts())).toEqual({ old: 3, new: 1 });
      const batch = await store.dataKeysNotWrappedBy('new', 2);
      expect(batch).toHaveLength(2);
      const rewrapped = randomBytes(69);
      expect(await store.rewrapDataKey(batch[0]!.keyId, 'old', 'new', rewrapped)).toBe(true);
      // A second replica doing the same key loses: the key is no longer wrapped by "old".
      expect(await store.rewrapDataKey(batch[0]!.keyId, 'old', 'new', randomBytes(69))).toBe(false);
      expect((await store.dataKey(batch[0]!.keyId))!.wrapped).toEqual(rewrapped);
      expect(await store.dataKeysNotWrappedBy('new', 10)).toHaveLength(2);
      expect(Object.fromEntries(await store.dataKeyCounts())).toEqual({ old: 2, new: 2 });
    });

    it('finds keys of writes nobody finished by owner prefix and age', async () => {
      const stale = record('write:x', 'k', Date.now() - 3_600_000);
      const fresh = record('write:y');
      const committed = record('blob:sha256:dd', 'k', Date.now() - 3_600_000);
      for (const r of [stale, fresh, committed]) await store.insertDataKey(r);
      const found = await store.staleDataKeys('write:', Date.now() - 60_000, 10);
      expect(found.map((r) => r.keyId)).toEqual([stale.keyId]);
    });
  });
}
