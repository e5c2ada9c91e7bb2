import type { IncomingMessage } from 'node:http';
import type { AuthRuntime } from '../auth/runtime';
import { InvalidToken } from '../auth/tokens';
import type { Action, Principal } from '../auth/principal';
import { OciError } from '../oci/errors';
import type { Logger } from './logger';
import type { Metrics } from './metrics';
import { sourceAddress } from './source-address';

/**
 * For the registry-wide APIs (administration, the audit log): a bearer token whose principal policy
 * allows `action` on the registry itself. Decisions are logged and counted like those on /v2.
 */
export async function requireRegistryAction(auth: AuthRuntime, req: IncomingMessage, action: Action, deps: { metrics: Metrics; logger: Logger; trustProxy: boolean; service: string }): Promise<Principal> {
  const ip = sourceAddress(req, deps.trustProxy);
  const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
  const challenge = { headers: { 'WWW-Authenticate': `Bearer realm="cairn",service="${deps.service}"` } };
  if (!m) throw new OciError('UNAUTHORIZED', 'a bearer token is required', undefined, challenge);
  let principal: Principal;
  try {
    principal = (await auth.tokens.verify(m[1]!)).principal;
  } catch (err) {
    if (err instanceof InvalidToken) throw new OciError('UNAUTHORIZED', err.message, undefined, challenge);
    throw err;
  }
  if (!(await auth.revocation.isActive(principal))) throw new OciError('UNAUTHORIZED', 'credentials disabled or revoked', undefined, challenge);
  const d = auth.authorizer.authorize({ principal, action, resource: { type: 'registry' }, context: { sourceIp: ip } });
  deps.metrics.authorizations.labels(action, d.allowed ? 'allow' : 'deny').inc();
  deps.logger[d.allowed ? 'info' : 'warn'](
    { event: 'authz', ip, principal: principal.id, action, resource: 'registry', decision: d.allowed ? 'allow' : 'deny', policies: d.policies, at: req.url },
    d.allowed ? `${action} access` : `${action} access denied`,
  );
  if (!d.allowed) {
    const why = action === 'admin' && !principal.mfa ? 'administration requires a session authenticated with MFA' : `${principal.id} may not ${action} on this registry`;
    throw new OciError('DENIED', why, { policies: d.policies });
  }
  return principal;
}
