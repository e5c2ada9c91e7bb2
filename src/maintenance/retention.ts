import { schedulePeriodic } from '../catalog/exclusive-job';
import type { ArtifactIndex } from '../catalog/artifact-index';
import type { Config } from '../config/config';
import type { Logger } from '../observability/logger';
import type { Governance } from '../policy/governance';
import type { Catalog } from '../catalog/catalog';
import type { AuditLog } from '../audit/audit-log';
import { immutableTag, repositoryMatches, type GovernanceRules } from '../policy/governance';

export interface RetentionResult {
  deleted: { repository: string; digest: string; ageDays: number }[];
  kept: { repository: string; digest: string; why: string }[];
}

/**
 * Deletes model and dataset drafts older than the retention rules allow: never one that another
 * artifact names (its lineage would break), never one an immutable tag holds. Each deletion is in the
 * audit log; the bytes go with the next garbage collection.
 */
export interface PruneDeps {
  artifacts: ArtifactIndex;
  catalog: Catalog;
  audit: AuditLog;
}

export async function pruneDrafts(
  deps: PruneDeps,
  rules: GovernanceRules,
  now: number,
  opts: { dryRun?: boolean; batch?: number } = {},
): Promise<RetentionResult> {
  const out: RetentionResult = { deleted: [], kept: [] };
  if (rules.retention.length === 0) return out;
  const oldest = Math.max(...rules.retention.map((r) => now - r.draftsOlderThanDays * 86_400_000));
  const seen = new Set<string>();
  for (const a of await deps.artifacts.staleDrafts(oldest, opts.batch ?? 10_000)) {
    const key = `${a.repository}@${a.digest}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const rule = rules.retention.find((r) => r.repositories.some((p) => repositoryMatches(p, a.repository)));
    if (!rule || a.createdAt >= now - rule.draftsOlderThanDays * 86_400_000) continue;
    const held = (await deps.artifacts.tags(a.repository, a.digest)).find((t) => immutableTag(rules, a.repository, t));
    if (held) {
      out.kept.push({ repository: a.repository, digest: a.digest, why: `immutable tag ${held}` });
      continue;
    }
    const ageDays = Math.round(((now - a.createdAt) / 86_400_000) * 100) / 100;
    if (!opts.dryRun) {
      if (!(await deps.catalog.deleteManifest(a.repository, a.digest))) continue;
      await deps.audit.append({
        type: 'retention.delete',
        identity: 'system',
        action: 'delete',
        repository: a.repository,
        digest: a.digest,
        detail: { kind: a.kind, stage: 'draft', ageDays, draftsOlderThanDays: rule.draftsOlderThanDays },
      });
    }
    out.deleted.push({ repository: a.repository, digest: a.digest, ageDays });
  }
  return out;
}

const LEASE_MS = 600_000;

/**
 * Retention inside `serve`: every `gc.retentionIntervalSeconds`, one replica at a time (a catalog lease),
 * the rules of governance.yaml in force prune old drafts, as `cairn retention` does. Their bytes go with
 * the next garbage collection, which stays an operator's decision (`cairn gc`).
 */
export function startRetention(
  s: PruneDeps & { config: Pick<Config, 'gc'>; governance: Pick<Governance, 'current'>; logger: Logger },
): () => Promise<void> {
  const every = s.config.gc.retentionIntervalSeconds;
  if (every === 0) return async () => undefined;
  return schedulePeriodic(s.catalog, {
    name: 'retention',
    everyMs: every * 1000,
    leaseMs: LEASE_MS,
    onError: (err) => s.logger.error({ err: (err as Error).message }, 'retention pass failed'),
    pass: async () => {
      const rules = s.governance.current();
      if (rules.retention.length === 0) return;
      const r = await pruneDrafts({ artifacts: s.artifacts, catalog: s.catalog, audit: s.audit }, rules, Date.now());
      if (r.deleted.length || r.kept.length)
        s.logger.info({ event: 'retention', deleted: r.deleted.length, kept: r.kept.length }, 'old drafts pruned');
    },
  });
}
