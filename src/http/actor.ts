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
    ...replicatedVia(ctx.req.headers['cairn-replicated-via']),
    can: (action, repository) => ctx.auth?.can(action as never, repository) ?? true,
  };
}

/** Registry names (`audit.origin` values), comma-separated; anything else in the header is ignored. */
function replicatedVia(header: string | string[] | undefined): { replicatedVia?: string[] } {
  if (typeof header !== 'string') return {};
  const names = header
    .split(',')
    .map((s) => s.trim())
    .filter((s) => /^[A-Za-z0-9._/:-]{1,200}$/.test(s))
    .slice(0, 16);
  return names.length ? { replicatedVia: names } : {};
}
