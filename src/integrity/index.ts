import type { Catalog } from '../catalog/catalog';
import { KyselyCatalog } from '../catalog/kysely-catalog';
import { Quarantine } from './quarantine';

export function createQuarantine(catalog: Catalog): Quarantine {
  if (!(catalog instanceof KyselyCatalog)) throw new Error(`no quarantine for catalog ${catalog.kind}`);
  return new Quarantine(catalog.db);
}
