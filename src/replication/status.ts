import { Gauge, type Registry } from 'prom-client';
import type { AuditLog } from '../audit/audit-log';
import type { ReplicationFailure, ReplicationStateStore } from '../catalog/kysely-replication-state';
import type { ReplicationTargetConfig } from './target';

export interface TargetStatus {
  name: string;
  url: string;
  repositories: string[];
  stages?: string[];
  deletes: boolean;
  /** The next audit event the target will be looked at for. */
  position: number;
  /** Events logged since: not yet looked at (pulls and other events that carry nothing for it included). */
  lagEvents: number;
  /** How long the oldest of them has waited; 0 when caught up. */
  lagSeconds: number;
  lastError?: string;
  lastErrorAt?: string;
  lastSentAt?: string;
  failedEvents: number;
  recentFailures: (Omit<ReplicationFailure, 'target' | 'failedAt'> & { failedAt: string })[];
}

export type StatusDeps = {
  audit: Pick<AuditLog, 'eventsFrom' | 'size'>;
  state: ReplicationStateStore;
};

const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

/** Each configured target's place in the log, its lag, and what went wrong last, shared by every replica. */
export async function replicationStatus(
  targets: ReplicationTargetConfig[],
  s: StatusDeps,
  now = Date.now(),
): Promise<TargetStatus[]> {
  const head = await s.audit.size();
  const out: TargetStatus[] = [];
  for (const t of targets) {
    const st = await s.state.replicationState(t.name);
    const position = Math.min(st?.position ?? 0, head);
    const oldest = position < head ? (await s.audit.eventsFrom(position, 1))[0] : undefined;
    const failures = await s.state.replicationFailures(t.name, 10);
    out.push({
      name: t.name,
      url: t.url,
      repositories: t.repositories,
      ...(t.stages ? { stages: t.stages } : {}),
      deletes: t.deletes,
      position,
      lagEvents: head - position,
      lagSeconds: oldest ? Math.max(0, Math.round((now - Date.parse(oldest.time)) / 1000)) : 0,
      ...(st?.lastError ? { lastError: st.lastError, lastErrorAt: iso(st.lastErrorAt) } : {}),
      ...(st?.lastSentAt ? { lastSentAt: iso(st.lastSentAt) } : {}),
      failedEvents: st?.failedEvents ?? 0,
      recentFailures: failures.map((f) => ({ seq: f.seq, error: f.error, failedAt: iso(f.failedAt)! })),
    });
  }
  return out;
}

/** Replication lag and failures as Prometheus gauges, read from the catalog when scraped. */
export function replicationMetrics(registry: Registry, status: () => Promise<TargetStatus[]>): void {
  let last: Promise<TargetStatus[]> | undefined;
  let at = 0;
  // One status read serves the gauges of one scrape.
  const current = () => {
    if (!last || Date.now() - at > 1000) {
      at = Date.now();
      last = status();
    }
    return last;
  };
  const gauge = (name: string, help: string, value: (t: TargetStatus) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['target'],
      registers: [registry],
      async collect() {
        for (const t of await current()) this.set({ target: t.name }, value(t));
      },
    });
  gauge('cairn_replication_lag_events', 'Audit events not yet looked at for the target', (t) => t.lagEvents);
  gauge('cairn_replication_lag_seconds', 'How long the oldest change not yet sent has waited', (t) => t.lagSeconds);
  gauge('cairn_replication_failed_events', 'Changes the target refused for good (given up on)', (t) => t.failedEvents);
  gauge('cairn_replication_failing', '1 while the last attempt at the target failed', (t) => (t.lastError ? 1 : 0));
  gauge('cairn_replication_last_sent_timestamp_seconds', 'When the target last took a change', (t) =>
    t.lastSentAt ? Date.parse(t.lastSentAt) / 1000 : 0,
  );
}
