import type { Catalog } from '../catalog/catalog';
import type { Config } from '../config/config';

/** What the listings (repositories, tags, referrers, receipts) read: the catalog, and paging and receipt settings. */
export interface ListingDeps {
  catalog: Catalog;
  config: Pick<Config, 'catalog' | 'audit'>;
}
