import type { Config } from './config/config';
import type { Logger } from './observability/logger';
import type { AuditLog } from './audit/audit-log';
import type { Catalog } from './catalog/catalog';
import type { ArtifactIndex } from './catalog/artifact-index';
import type { BlobStore } from './storage/blob-store';
import type { Quarantine } from './integrity/quarantine';
import type { Governance } from './policy/governance';
import type { TrustStore } from './signing/trust-store';
import type { SignatureStore } from './signing/signature-store';
import { RegistryCore } from './core/registry-core';
import { registerArtifactValidation } from './artifacts/ingest';
import { registerGovernanceChecks } from './policy/governance-checks';
import { registerLifecycleChecks } from './policy/lifecycle-checks';
import type { IdentityStore } from './auth/identity-store';
import { registerSigningHooks } from './signing/hooks';
import { ReceiptIssuer } from './signing/receipt-issuer';
import { registerAuditHooks } from './audit/change-hooks';
import { registerLoopCheck } from './replication/loop-check';
import { registerReadOnly } from './replication/read-only';
import { PullThrough } from './proxy/pull-through';
import { registerCacheGuard } from './proxy/cache-guard';
import { defaultUserAgent } from './client/registry-client';

export interface CoreWiring {
  config: Config;
  logger: Logger;
  audit: AuditLog;
  catalog: Catalog;
  blobs: BlobStore;
  quarantine: Quarantine;
  artifacts: ArtifactIndex;
  governance: Governance;
  trust: TrustStore;
  signatures: SignatureStore;
  identities: IdentityStore;
}

/**
 * The registry core with every feature's hooks, in one place: validation (artifact schemas and
 * metadata), governance (immutable tags, quotas, lifecycle stages), trust on read, then after the commit
 * the audit event, signature verification, the receipt and the change feed. The receipt issuer is
 * started (and stopped) by the caller.
 */
export function createRegistryCore(w: CoreWiring): {
  core: RegistryCore;
  receipts: ReceiptIssuer | undefined;
  pullThrough: PullThrough | undefined;
} {
  const core = new RegistryCore(
    { catalog: w.catalog, blobs: w.blobs, quarantine: w.quarantine, artifacts: w.artifacts },
    w.logger,
  );
  // First of all checks: a read-only region refuses every change; a change replicated back to where it
  // started is refused before anything else runs.
  if (w.config.mode === 'read-only') registerReadOnly(core.hooks, w.config.primary!);
  registerLoopCheck(core.hooks, w.config.audit.origin);
  registerArtifactValidation(core.hooks);
  registerGovernanceChecks(core.hooks, w);
  registerLifecycleChecks(core.hooks, w);
  const receipts = w.config.audit.receipts
    ? new ReceiptIssuer(w, { delayMs: w.config.audit.receiptDelayMs, sweepMs: 5_000 })
    : undefined;
  registerSigningHooks(core.hooks, w, { receipts });
  registerAuditHooks(core.hooks, w.audit, { pulls: w.config.audit.pulls });
  // Pull-through caches: manifest reads of their namespaces go upstream first; only they write there.
  let pullThrough: PullThrough | undefined;
  if (w.config.proxies.length) {
    pullThrough = new PullThrough(
      { core, catalog: w.catalog, blobs: w.blobs, logger: w.logger },
      w.config.proxies,
      defaultUserAgent().replace('cairn-cli', 'cairn-proxy'),
    );
    core.manifests.readThroughTo(pullThrough);
    registerCacheGuard(core.hooks, pullThrough);
  }
  return { core, receipts, pullThrough };
}
