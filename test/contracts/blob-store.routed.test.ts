import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { BlobStore } from '../../src/storage/blob-store';
import { FsBlobStore } from '../../src/storage/fs-blob-store';
import { inRepository, onRoute } from '../../src/storage/route-context';
import { RoutedBlobStore } from '../../src/storage/routed-blob-store';
import { blobStoreContract } from './blob-store.contract';

async function routed(): Promise<{
  store: RoutedBlobStore;
  dirs: { open: string; onprem: string };
  cleanup(): Promise<void>;
}> {
  const open = await mkdtemp(path.join(os.tmpdir(), 'cairn-route-open-'));
  const onprem = await mkdtemp(path.join(os.tmpdir(), 'cairn-route-onprem-'));
  const store = new RoutedBlobStore(new FsBlobStore(open), [
    { name: 'onprem', matches: (r) => r.startsWith('restricted/'), store: new FsBlobStore(onprem) },
  ]);
  return {
    store,
    dirs: { open, onprem },
    cleanup: async () => {
      await rm(open, { recursive: true, force: true });
      await rm(onprem, { recursive: true, force: true });
    },
  };
}

/** The same store with every call made in a route's scope (what a request of a routed repository sees). */
function scoped(store: BlobStore, route: string): BlobStore {
  return new Proxy(store, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => onRoute(route, () => (v as (...a: unknown[]) => unknown).apply(target, args));
    },
  });
}

blobStoreContract('routed, the default route', async () => {
  const r = await routed();
  return { store: r.store, cleanup: r.cleanup };
});

blobStoreContract('routed, a named route', async () => {
  const r = await routed();
  return { store: scoped(r.store, 'onprem'), cleanup: r.cleanup };
});

describe('storage routes', () => {
  const file = (dir: string, digest: string) => path.join(dir, 'sha256', digest.slice(7, 9), digest.slice(7));
  async function put(store: BlobStore, data: Buffer): Promise<string> {
    const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
    const pending = await store.writeBlob(digest, Readable.from([data]), () => undefined);
    await pending.publish();
    return digest;
  }

  it("keeps a repository's blobs in its route, reads them from anywhere, copies them over on adopt, and lists and deletes everywhere", async () => {
    const r = await routed();
    await r.store.init();
    try {
      const secret = await inRepository('restricted/model', () => put(r.store, randomBytes(70_000)));
      const open = await inRepository('public/model', () => put(r.store, randomBytes(50_000)));
      expect([existsSync(file(r.dirs.onprem, secret)), existsSync(file(r.dirs.open, secret))]).toEqual([true, false]);
      expect([existsSync(file(r.dirs.onprem, open)), existsSync(file(r.dirs.open, open))]).toEqual([false, true]);
      // Staged uploads too.
      await inRepository('restricted/model', async () => {
        await r.store.stageCreate('u1');
        await r.store.stageAppend('u1', 0, Readable.from([Buffer.from('abc')]), () => undefined);
      });
      expect(await inRepository('public/model', () => r.store.stageSize('u1'))).toBeUndefined();
      expect(await inRepository('restricted/model', () => r.store.stageSize('u1'))).toBe(3);
      const staged = [];
      for await (const u of r.store.stageList()) staged.push(u.id);
      expect(staged).toEqual(['u1']);
      await r.store.stageDelete('u1');
      expect(await inRepository('restricted/model', () => r.store.stageSize('u1'))).toBeUndefined();

      // Found from any scope (blobs stored before a route existed stay readable).
      expect((await inRepository('public/model', () => r.store.stat(secret)))?.size).toBe(70_000);
      // A mount of the open blob into a restricted repository: its own copy, on premises.
      await inRepository('restricted/copy', () => r.store.adopt(open));
      expect(existsSync(file(r.dirs.onprem, open))).toBe(true);
      const listed = [];
      for await (const b of r.store.list()) listed.push(`${b.route}:${b.digest === open ? 'open' : 'secret'}`);
      expect(listed.sort()).toEqual(['default:open', 'onprem:open', 'onprem:secret']);
      expect(await r.store.delete(open)).toBe(true);
      expect([existsSync(file(r.dirs.onprem, open)), existsSync(file(r.dirs.open, open))]).toEqual([false, false]);
    } finally {
      await r.store.close();
      await r.cleanup();
    }
  });
});
