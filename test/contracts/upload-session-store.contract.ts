import type { UploadSessionStore } from '../../src/sessions/upload-session-store';

export interface SessionStoreFixture {
  /** A store with the given idle time; several calls share one backend (a restart, or another replica). */
  open(idleMs: number): UploadSessionStore;
  cleanup(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let seq = 0;
const newId = () => `s-${Date.now()}-${seq++}`;

/** The behaviour every UploadSessionStore must have. `shared` says whether two opened stores see one state. */
export function sessionStoreContract(name: string, shared: boolean, make: () => Promise<SessionStoreFixture>): void {
  describe(`UploadSessionStore contract: ${name}`, () => {
    let f: SessionStoreFixture;
    const opened: UploadSessionStore[] = [];
    const open = async (idleMs = 60_000) => {
      const s = f.open(idleMs);
      await s.init();
      opened.push(s);
      return s;
    };
    beforeEach(async () => {
      f = await make();
    });
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((s) => s.close()));
      await f.cleanup();
    });

    it('creates and reads a session', async () => {
      const s = await open();
      const id = newId();
      const created = await s.create({ id, repository: 'a/b' });
      expect(created).toMatchObject({ id, repository: 'a/b', offset: 0 });
      expect(await s.get(id)).toEqual(created);
      expect(await s.get('missing')).toBeUndefined();
    });

    it('moves the offset only from the expected value, and only one of two racing writers wins', async () => {
      const s = await open();
      const id = newId();
      await s.create({ id, repository: 'r' });
      expect(await s.advance(id, 5, 10)).toBe(false);
      expect(await s.advance(id, 0, 100)).toBe(true);
      expect((await s.get(id))!.offset).toBe(100);
      const results = await Promise.all([s.advance(id, 100, 200), s.advance(id, 100, 300)]);
      expect(results.filter(Boolean)).toHaveLength(1);
      expect([200, 300]).toContain((await s.get(id))!.offset);
      expect(await s.advance('missing', 0, 1)).toBe(false);
    });

    it('expires idle sessions, and activity keeps them alive', async () => {
      const s = await open(1000);
      const idle = newId();
      const busy = newId();
      await s.create({ id: idle, repository: 'r' });
      await s.create({ id: busy, repository: 'r' });
      for (let i = 0; i < 5; i++) {
        await sleep(300);
        expect(await s.touch(busy)).toBe(true);
      }
      expect(await s.get(idle)).toBeUndefined();
      expect(await s.touch(idle)).toBe(false);
      expect(await s.get(busy)).toBeDefined();
    });

    it('grants the write lease to one holder at a time, renewable and releasable by its token only', async () => {
      const s = await open();
      const id = newId();
      await s.create({ id, repository: 'r' });
      const t1 = await s.lock(id, 10_000);
      expect(t1).toBeDefined();
      expect(await s.lock(id, 10_000)).toBeUndefined();
      expect(await s.lock(id, 10_000, t1)).toBe(t1);
      await s.unlock(id, 'not-the-token');
      expect(await s.lock(id, 10_000)).toBeUndefined();
      await s.unlock(id, t1!);
      const t2 = await s.lock(id, 10_000);
      expect(t2).toBeDefined();
      expect(t2).not.toBe(t1);
    });

    it('lets a lapsed lease be taken over', async () => {
      const s = await open();
      const id = newId();
      await s.create({ id, repository: 'r' });
      expect(await s.lock(id, 150)).toBeDefined();
      await sleep(300);
      expect(await s.lock(id, 10_000)).toBeDefined();
    });

    it('deletes a session and its lease', async () => {
      const s = await open();
      const id = newId();
      await s.create({ id, repository: 'r' });
      await s.lock(id, 10_000);
      await s.delete(id);
      expect(await s.get(id)).toBeUndefined();
      expect(await s.lock(id, 10_000)).toBeDefined();
    });

    if (shared)
      it('is shared: another instance (a restarted server, another replica) sees the same sessions', async () => {
        const a = await open();
        const id = newId();
        await a.create({ id, repository: 'shared/repo' });
        expect(await a.advance(id, 0, 4096)).toBe(true);
        const token = await a.lock(id, 10_000);
        await a.close();
        opened.splice(opened.indexOf(a), 1);
        const b = await open();
        expect(await b.get(id)).toMatchObject({ repository: 'shared/repo', offset: 4096 });
        expect(await b.lock(id, 10_000)).toBeUndefined();
        await b.unlock(id, token!);
        expect(await b.advance(id, 4096, 8192)).toBe(true);
      });
  });
}
