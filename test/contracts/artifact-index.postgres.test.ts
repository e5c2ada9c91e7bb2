import { createCatalog } from '../../src/catalog';
import { createTestDatabase, serviceAvailable } from '../helpers/services';
import { artifactIndexContract } from './artifact-index.contract';

artifactIndexContract('postgres', async () => {
  if (!(await serviceAvailable('postgres'))) throw new Error('PostgreSQL is required for these tests (127.0.0.1:5432)');
  const db = await createTestDatabase();
  return { catalog: createCatalog(db.url), cleanup: db.drop };
});
