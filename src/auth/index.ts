import type { Catalog } from '../catalog/catalog';
import { KyselyCatalog } from '../catalog/kysely-catalog';
import { KyselyIdentityStore, type SecretSealing } from './kysely-identity-store';

/** The identity store lives in the catalog's database, on the catalog's own connection. */
export function createIdentityStore(catalog: Catalog, sealing?: SecretSealing): KyselyIdentityStore {
  if (catalog instanceof KyselyCatalog) return new KyselyIdentityStore(catalog.db, sealing);
  throw new Error(`no identity store for catalog ${catalog.kind}`);
}
