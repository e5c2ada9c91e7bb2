import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * Which repository (or which storage route) the work in progress is for, carried with the async call
 * chain: the blob store interface is content-addressed and names no repository, yet with storage routes
 * a blob's bytes must land in the backend its repository is routed to. Set where the repository is
 * known (a /v2/<name>/ request, a receipt for a repository), read only by the routed store.
 */
interface RouteScope {
  repository?: string;
  /** A route named outright (the scrubber reading each route's copy). */
  route?: string;
}

const scope = new AsyncLocalStorage<RouteScope>();
/** Set once routes are configured: without them no scope is entered, and no request pays for one. */
let routing = false;

export function enableRouting(): void {
  routing = true;
}

export function inRepository<T>(repository: string, work: () => T): T {
  return routing ? scope.run({ repository }, work) : work();
}

export function onRoute<T>(route: string, work: () => T): T {
  return scope.run({ route }, work);
}

export function currentScope(): RouteScope | undefined {
  return scope.getStore();
}
