import type { NewEvent } from '../audit/events';
import type { RequestContext } from '../http/context';
import { sourceAddress } from '../http/source-address';
import type { Services } from './services';

/** Who, from where, with what, under which request id: the part of every event the request gives. */
export function requestFields(s: Services, ctx: RequestContext): Pick<NewEvent, 'identity' | 'source' | 'userAgent' | 'requestId'> {
  const ua = ctx.req.headers['user-agent'];
  return {
    identity: ctx.auth?.principal.id ?? 'anonymous',
    source: sourceAddress(ctx.req, s.config.auth.trustProxy),
    ...(typeof ua === 'string' ? { userAgent: ua.slice(0, 200) } : {}),
    requestId: ctx.id,
  };
}

/** Appends a state change and waits until it is durable: the client's success means it is in the log. */
export async function auditChange(s: Services, ctx: RequestContext, event: Omit<NewEvent, 'identity' | 'source' | 'userAgent' | 'requestId'>): Promise<void> {
  await s.audit.append({ ...requestFields(s, ctx), ...event });
}

/** Records a read without holding the response for it (`audit.pulls`). */
export function auditPull(s: Services, ctx: RequestContext, event: Omit<NewEvent, 'identity' | 'source' | 'userAgent' | 'requestId' | 'type'>): void {
  if (s.config.audit.pulls) s.audit.record({ ...requestFields(s, ctx), type: 'pull', action: 'pull', ...event });
}
