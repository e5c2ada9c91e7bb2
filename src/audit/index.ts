import type { Catalog } from '../catalog/catalog';
import { KyselyCatalog } from '../catalog/kysely-catalog';
import type { Config } from '../config/config';
import type { Logger } from '../observability/logger';
import { AuditLog, loadOrCreateAuditKey } from './audit-log';
import { HsmEd25519Signer } from '../keys/hsm-signer';
import { keyObjectSigner, type Ed25519Signer } from '../keys/signer';
import { parseVerifierKey } from './cosignature';
import { Witness } from './witness';

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
  options: { sign?: boolean; signer?: Ed25519Signer } = {},
): AuditLog {
  if (!(catalog instanceof KyselyCatalog)) throw new Error(`no audit log for catalog ${catalog.kind}`);
  return new AuditLog(catalog.db, catalog.kind, {
    origin: config.audit.origin,
    key: options.sign === false ? undefined : (options.signer ?? openAuditSigner(config)),
    checkpointMs: config.audit.checkpointSeconds * 1000,
    witness: config.audit.witness,
    witnesses: config.audit.witnesses.map((w) => ({ url: w.url, ...parseVerifierKey(w.verifier, 0x04) })),
    logger,
  });
}
