import type { ReplicationStateStore } from '../../src/catalog/kysely-replication-state';

export interface ReplicationStateFixture {
  store: ReplicationStateStore;
  cleanup(): Promise<void>;
}

/** The behaviour every ReplicationStateStore must have; run against each catalog engine. */
export function replicationStateContract(name: string, make: () => Promise<ReplicationStateFixture>): void {
  describe(`ReplicationStateStore contract: ${name}`, () => {
    let f: ReplicationStateFixture;
    let store: ReplicationStateStore;
    beforeEach(async () => {
      f = await make();
      store = f.store;
    });
    afterEach(() => f.cleanup());

    it('starts unknown, advances, and never moves a position back', async () => {
      expect(await store.replicationState('dr')).toBeUndefined();
      await store.advanceReplication('dr', 10, false);
      expect(await store.replicationState('dr')).toEqual({ target: 'dr', position: 10, failedEvents: 0 });
      await store.advanceReplication('dr', 7, true);
      const s = await store.replicationState('dr');
      expect(s).toMatchObject({ position: 10, failedEvents: 0 });
      expect(s!.lastSentAt).toBeGreaterThan(Date.now() - 60_000);
      await store.advanceReplication('dr', 12, false);
      expect((await store.replicationState('dr'))!.position).toBe(12);
    });

    it('keeps the last error until the next advance, without moving the position', async () => {
      await store.replicationError('eu', 'connect ECONNREFUSED');
      expect(await store.replicationState('eu')).toMatchObject({ position: 0, lastError: 'connect ECONNREFUSED' });
      await store.advanceReplication('eu', 5, false);
      await store.replicationError('eu', 'HTTP 503');
      const s = await store.replicationState('eu');
      expect(s).toMatchObject({ position: 5, lastError: 'HTTP 503' });
      expect(s!.lastErrorAt).toBeGreaterThan(Date.now() - 60_000);
      await store.advanceReplication('eu', 6, true);
      expect((await store.replicationState('eu'))!.lastError).toBeUndefined();
    });

    it('records a change given up on once, counts it, and moves past it', async () => {
      await store.advanceReplication('us', 3, false);
      await store.replicationGaveUp('us', 3, 'DENIED: immutable tag');
      // The same event given up twice (a pass repeated after a crash) counts once.
      await store.replicationGaveUp('us', 3, 'DENIED: immutable tag');
      await store.replicationGaveUp('us', 8, 'MANIFEST_INVALID');
      expect(await store.replicationState('us')).toMatchObject({ position: 9, failedEvents: 2 });
      const failures = await store.replicationFailures('us', 10);
      expect(failures.map((x) => [x.seq, x.error])).toEqual([
        [8, 'MANIFEST_INVALID'],
        [3, 'DENIED: immutable tag'],
      ]);
      expect(await store.replicationFailures('us', 1)).toHaveLength(1);
      expect(await store.replicationFailures('dr', 10)).toEqual([]);
      expect((await store.replicationStates()).map((s) => s.target)).toEqual(['us']);
    });
  });
}
