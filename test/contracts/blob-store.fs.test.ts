import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { FsBlobStore } from '../../src/storage/fs-blob-store';
import { blobStoreContract } from './blob-store.contract';

blobStoreContract('file system', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'cairn-fs-'));
  return { store: new FsBlobStore(dir), cleanup: () => rm(dir, { recursive: true, force: true }) };
});
