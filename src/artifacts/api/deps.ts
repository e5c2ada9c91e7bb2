import type { Config } from '../../config/config';
import type { ArtifactIndex } from '../../catalog/artifact-index';
import type { Catalog } from '../../catalog/catalog';
import type { AuditLog } from '../../audit/audit-log';
import type { Governance } from '../../policy/governance';
import type { TrustStore } from '../../signing/trust-store';
import type { SignatureStore } from '../../signing/signature-store';
import type { RegistryCore } from '../../core/registry-core';

/** What Cairn's artifact API reads and writes: the artifact index, governance, trust, and the audit log. */
export interface ArtifactApiDeps {
  config: Config;
  /** Lifecycle moves and compromise marks go through the core, with their checks and effects. */
  core: Pick<RegistryCore, 'lifecycle'>;
  artifacts: ArtifactIndex;
  catalog: Catalog;
  audit: AuditLog;
  governance: Governance;
  trust: TrustStore;
  signatures: SignatureStore;
}
