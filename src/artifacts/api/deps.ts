import type { Config } from '../../config/config';
import type { ArtifactIndex } from '../../catalog/artifact-index';
import type { Catalog } from '../../catalog/catalog';
import type { AuditLog } from '../../audit/audit-log';
import type { Governance } from '../../policy/governance';
import type { IdentityStore } from '../../auth/identity-store';
import type { TrustStore } from '../../signing/trust-store';
import type { SignatureStore } from '../../signing/signature-store';

/** What Cairn's artifact API reads and writes: the artifact index, governance, trust, and the audit log. */
export interface ArtifactApiDeps {
  config: Config;
  artifacts: ArtifactIndex;
  catalog: Catalog;
  audit: AuditLog;
  governance: Governance;
  /** The resource labels (sensitivity) lifecycle moves read. */
  identities: Pick<IdentityStore, 'listLabels'>;
  trust: TrustStore;
  signatures: SignatureStore;
}
