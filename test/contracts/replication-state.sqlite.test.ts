import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createCatalog, createReplicationState } from '../../src/catalog';
import { replicationStateContract } from './replication-state.contract';

replicationStateContract('sqlite', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'cairn-replication-state-'));
  const catalog = createCatalog(`sqlite://${path.join(dir, 'cairn.db')}`);
  await catalog.init();
  return {
    store: createReplicationState(catalog),
    cleanup: async () => {
      await catalog.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});
