import path from 'node:path';
import type { Catalog } from '../catalog/catalog';
import { KyselyCatalog } from '../catalog/kysely-catalog';
import type { Config } from '../config/config';
import type { Logger } from '../observability/logger';
import { AuditLog, loadOrCreateAuditKey } from './audit-log';
import { HsmEd25519Signer } from '../keys/hsm-signer';
import { keyObjectSigner, type Ed25519Signer } from '../keys/signer';
import { parseVerifierKey } from './cosignature';
import { Witness } from './witness';
import type { NewEvent } from './events';
import { RegionSpool } from './region-spool';
import { RegionIngest } from './region-ingest';

/** A read-only region's audit spool, signed with the region's audit key and sent to `primary`. */
export function createRegionSpool(config: Config, signer: Ed25519Signer, logger?: Logger): RegionSpool {
  return new RegionSpool(
    path.join(config.dataDir, 'audit-spool'),
    config.audit.origin,
    signer,
    config.primary!,
    logger,
  );
}

/** The primary's intake of its read-only regions' audit records (audit.regions). */
export function createRegionIngest(config: Config, catalog: Catalog, log: AuditLog): RegionIngest | undefined {
  if (!config.audit.regions.length) return undefined;
  return new RegionIngest(
    log,
    config.audit.regions.map((v) => parseVerifierKey(v, 0x01)),
    catalog,
  );
}

/** This registry as a witness of the logs `witness.logs` names, cosigning with its own audit key. */
export function createWitness(config: Config, catalog: Catalog, log: AuditLog): Witness | undefined {
  if (!config.witness.logs.length) return undefined;
  if (!(catalog instanceof KyselyCatalog)) throw new Error(`no witness for catalog ${catalog.kind}`);
  return new Witness(
    catalog.db,
    config.witness.logs.map((v) => parseVerifierKey(v, 0x01)),
    config.audit.origin,
    () => log.signingKey,
    async (detail) => {
      await log.append({ type: 'witness.conflict', identity: 'system', action: 'admin', decision: 'deny', detail });
    },
  );
}

/**
 * The registry's signing key for checkpoints and receipts: `audit.key` (a `pkcs11:` key in an HSM) when
 * set, else the key file (`audit.keyFile`, created on first use).
 */
export function openAuditSigner(config: Config): Ed25519Signer {
  if (config.audit.key) return HsmEd25519Signer.open(config.audit.key);
  return keyObjectSigner(loadOrCreateAuditKey(config.audit.keyFile));
}

/**
 * The audit log in the catalog's database, on the catalog's own connection, signing with the configured
 * key (created on first use); `sign: false` only appends, for tools that must not create a key.
 */
export function createAuditLog(
  config: Config,
  catalog: Catalog,
  logger?: Logger,
  options: { sign?: boolean; signer?: Ed25519Signer; forward?: (events: NewEvent[]) => Promise<void> } = {},
): AuditLog {
  if (!(catalog instanceof KyselyCatalog)) throw new Error(`no audit log for catalog ${catalog.kind}`);
  return new AuditLog(catalog.db, catalog.kind, {
    origin: config.audit.origin,
    key: options.sign === false ? undefined : (options.signer ?? openAuditSigner(config)),
    checkpointMs: config.audit.checkpointSeconds * 1000,
    witness: config.audit.witness,
    witnesses: config.audit.witnesses.map((w) => ({ url: w.url, ...parseVerifierKey(w.verifier, 0x04) })),
    ...(options.forward ? { forward: options.forward } : {}),
    logger,
  });
}
