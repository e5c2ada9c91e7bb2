import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createCatalog, createDataKeyStore } from '../../src/catalog';
import { dataKeyStoreContract } from './data-key-store.contract';

dataKeyStoreContract('sqlite', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'cairn-keys-'));
  const catalog = createCatalog(`sqlite://${path.join(dir, 'cairn.db')}`);
  await catalog.init();
  return {
    store: createDataKeyStore(catalog),
    cleanup: async () => {
      await catalog.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});
