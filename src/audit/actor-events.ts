import { actorFields, type Actor } from '../core/actor';
import type { AuditLog } from './audit-log';
import type { NewEvent } from './events';

export type ChangeEvent = Omit<NewEvent, 'identity' | 'source' | 'userAgent' | 'requestId'>;

/** Appends a state change by `actor` and waits until it is durable: the caller's success means it is in the log. */
export function auditChange(audit: Pick<AuditLog, 'append'>, actor: Actor, event: ChangeEvent): Promise<number> {
  return audit.append({ ...actorFields(actor), ...event });
}

const PULL_WINDOW_MS = 60_000;

/**
 * Records reads without holding the response for them. The same identity pulling the same thing from the
 * same address is recorded once a minute: who pulled what stays answerable, and a node re-pulling in a
 * loop (or a load test) does not turn the log into a counter.
 */
export class PullRecorder {
  private start = 0;
  private seen = new Set<string>();

  constructor(private readonly audit: Pick<AuditLog, 'record'>) {}

  record(actor: Actor, event: Omit<ChangeEvent, 'type' | 'action'>): void {
    const now = Date.now();
    if (now - this.start > PULL_WINDOW_MS || this.seen.size > 100_000) {
      this.start = now;
      this.seen = new Set();
    }
    const fields = actorFields(actor);
    const key = `${fields.identity}|${fields.source}|${event.repository}|${event.digest}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    this.audit.record({ ...fields, type: 'pull', action: 'pull', ...event });
  }
}
