import { createCatalog } from '../../src/catalog';
import { createTestDatabase, serviceAvailable } from '../helpers/services';
import { catalogContract } from './catalog.contract';

catalogContract('postgres', async () => {
  if (!(await serviceAvailable('postgres'))) throw new Error('PostgreSQL is required for these tests (127.0.0.1:5432)');
  const db = await createTestDatabase();
  return { concurrentInstances: true, open: () => createCatalog(db.url), cleanup: db.drop };
});
