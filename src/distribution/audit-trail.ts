import type { NewEvent } from '../audit/events';
import type { RequestContext } from '../http/context';
import { sourceAddress } from '../http/source-address';
import type { Services } from './services';

/** Who, from where, with what, under which request id: the part of every event the request gives. */
export function requestFields(
  s: Services,
  ctx: RequestContext,
): Pick<NewEvent, 'identity' | 'source' | 'userAgent' | 'requestId'> {
  const ua = ctx.req.headers['user-agent'];
  return {
    identity: ctx.auth?.principal.id ?? 'anonymous',
    source: sourceAddress(ctx.req, s.config.auth.trustProxy),
    ...(typeof ua === 'string' ? { userAgent: ua.slice(0, 200) } : {}),
    requestId: ctx.id,
  };
}

/** Appends a state change and waits until it is durable: the client's success means it is in the log. */
export async function auditChange(
  s: Services,
  ctx: RequestContext,
  event: Omit<NewEvent, 'identity' | 'source' | 'userAgent' | 'requestId'>,
): Promise<number> {
  return s.audit.append({ ...requestFields(s, ctx), ...event });
}

/** Per registry: the pulls already recorded in the current window (identity, source, repository, digest). */
const windows = new WeakMap<object, { start: number; seen: Set<string> }>();
const PULL_WINDOW_MS = 60_000;

/**
 * Records a read without holding the response for it (`audit.pulls`). The same identity pulling the same
 * thing from the same address is recorded once a minute: who pulled what stays answerable, and a node
 * re-pulling in a loop (or a load test) does not turn the log into a counter.
 */
export function auditPull(
  s: Services,
  ctx: RequestContext,
  event: Omit<NewEvent, 'identity' | 'source' | 'userAgent' | 'requestId' | 'type'>,
): void {
  if (!s.config.audit.pulls) return;
  const fields = requestFields(s, ctx);
  const now = Date.now();
  let w = windows.get(s.audit);
  if (!w || now - w.start > PULL_WINDOW_MS || w.seen.size > 100_000) {
    w = { start: now, seen: new Set() };
    windows.set(s.audit, w);
  }
  const key = `${fields.identity}|${fields.source}|${event.repository}|${event.digest}`;
  if (w.seen.has(key)) return;
  w.seen.add(key);
  s.audit.record({ ...fields, type: 'pull', action: 'pull', ...event });
}
