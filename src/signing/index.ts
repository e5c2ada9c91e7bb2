import type { Catalog } from '../catalog/catalog';
import { KyselyCatalog } from '../catalog/kysely-catalog';
import { SignatureStore } from './signature-store';

/** Signature checks live in the catalog's database, on the catalog's own connection. */
export function createSignatureStore(catalog: Catalog): SignatureStore {
  if (catalog instanceof KyselyCatalog) return new SignatureStore(catalog.db);
  throw new Error(`no signature store for catalog ${catalog.kind}`);
}
