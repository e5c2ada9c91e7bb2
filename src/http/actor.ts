import type { Actor } from '../core/actor';
import type { RequestContext } from './context';
import { sourceAddress } from './source-address';

/**
 * The caller of a request as the core sees it: who (once the access gate let it in), from where, with
 * which client, under which request id. /v2 and Cairn's API authenticate with bearer tokens only.
 */
export function actorOf(ctx: RequestContext, trustProxy: boolean): Actor {
  const principal = ctx.auth?.principal;
  const ua = ctx.req.headers['user-agent'];
  const anonymous = !principal || principal.kind === 'anonymous';
  return {
    id: principal?.id ?? 'anonymous',
    kind: principal?.kind ?? 'anonymous',
    authenticatedBy: anonymous ? 'none' : 'token',
    source: sourceAddress(ctx.req, trustProxy),
    ...(typeof ua === 'string' ? { userAgent: ua.slice(0, 200) } : {}),
    requestId: ctx.id,
    ...(principal?.federated ? { federated: principal.federated } : {}),
    can: (action, repository) => ctx.auth?.can(action as never, repository) ?? true,
  };
}
