import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createCatalog } from '../../src/catalog';
import { identityStoreContract } from './identity-store.contract';

identityStoreContract('sqlite', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'cairn-ids-'));
  return {
    catalog: createCatalog(`sqlite://${path.join(dir, 'cairn.db')}`),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
});
