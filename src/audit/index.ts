import type { Catalog } from '../catalog/catalog';
import { KyselyCatalog } from '../catalog/kysely-catalog';
import type { Config } from '../config/config';
import type { Logger } from '../observability/logger';
import { AuditLog, loadOrCreateAuditKey } from './audit-log';

/**
 * The audit log in the catalog's database, on the catalog's own connection, signing with the configured
 * key (created on first use); `sign: false` only appends, for tools that must not create a key.
 */
export function createAuditLog(
  config: Config,
  catalog: Catalog,
  logger?: Logger,
  options: { sign?: boolean } = {},
): AuditLog {
  if (!(catalog instanceof KyselyCatalog)) throw new Error(`no audit log for catalog ${catalog.kind}`);
  return new AuditLog(catalog.db, catalog.kind, {
    origin: config.audit.origin,
    key: options.sign === false ? undefined : loadOrCreateAuditKey(config.audit.keyFile),
    checkpointMs: config.audit.checkpointSeconds * 1000,
    witness: config.audit.witness,
    logger,
  });
}
