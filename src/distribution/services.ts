import type { Config } from '../config/config';
import type { BlobStore } from '../storage/blob-store';
import type { UploadSessionStore } from '../sessions/upload-session-store';
import type { Catalog } from '../catalog/catalog';
import type { Metrics } from '../observability/metrics';
import type { Logger } from '../observability/logger';
import type { UploadHashes } from './upload-hashes';
import type { VerifiedBlobs } from './verified-blobs';
import type { AccessGate } from '../http/access-gate';
import type { AuditLog } from '../audit/audit-log';
import type { Quarantine } from '../integrity/quarantine';
import type { ArtifactIndex } from '../catalog/artifact-index';
import type { Governance } from '../policy/governance';
import type { IdentityStore } from '../auth/identity-store';
import type { TrustStore } from '../signing/trust-store';
import type { SignatureStore } from '../signing/signature-store';

/** What the distribution handlers work with: only interfaces, never a file system, Redis or SQL directly. */
export interface Services {
  config: Config;
  blobs: BlobStore;
  sessions: UploadSessionStore;
  catalog: Catalog;
  metrics: Metrics;
  logger: Logger;
  hashes: UploadHashes;
  verified: VerifiedBlobs;
  gate: AccessGate;
  audit: AuditLog;
  quarantine: Quarantine;
  artifacts: ArtifactIndex;
  /** Trust material and policies for signatures (trust.yaml), and the stored verifications. */
  trust: TrustStore;
  signatures: SignatureStore;
  /** Users, robots and the resource labels (sensitivity) governance reads. */
  identities: IdentityStore;
  governance: Governance;
}
