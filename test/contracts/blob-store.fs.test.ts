import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { FsBlobStore } from '../../src/storage/fs-blob-store';
import { blobStoreContract } from './blob-store.contract';

blobStoreContract('file system', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'cairn-fs-'));
  return { store: new FsBlobStore(dir), cleanup: () => rm(dir, { recursive: true, force: true }) };
});

describe('file system store: resumable progress', () => {
  it('keeps every byte a failing source delivered and hands exactly those to onWritten', async () => {
    const { createHash, randomBytes } = await import('node:crypto');
    const dir = await mkdtemp(path.join(os.tmpdir(), 'cairn-fs-'));
    const store = new FsBlobStore(dir);
    await store.init();
    try {
      const data = randomBytes(6 * 1024 * 1024 + 123);
      async function* failing() {
        for (let i = 0; i < data.length; i += 65536) yield data.subarray(i, i + 65536);
        throw new Error('client went away');
      }
      await store.stageCreate('u1');
      const hash = createHash('sha256');
      const r = await store.stageAppend('u1', 0, failing(), (c) => hash.update(c));
      expect(r.size).toBe(data.length);
      expect(hash.digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
