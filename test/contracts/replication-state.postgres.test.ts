import { createCatalog, createReplicationState } from '../../src/catalog';
import { createTestDatabase, serviceAvailable } from '../helpers/services';
import { replicationStateContract } from './replication-state.contract';

replicationStateContract('postgres', async () => {
  if (!(await serviceAvailable('postgres'))) throw new Error('PostgreSQL is required for these tests (127.0.0.1:5432)');
  const db = await createTestDatabase();
  const catalog = createCatalog(db.url);
  await catalog.init();
  return {
    store: createReplicationState(catalog),
    cleanup: async () => {
      await catalog.close();
      await db.drop();
    },
  };
});
