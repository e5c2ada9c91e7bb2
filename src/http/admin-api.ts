import type { IncomingMessage } from 'node:http';
import express from 'express';
import type { AuthRuntime } from '../auth/runtime';
import { InvalidToken } from '../auth/tokens';
import type { Principal } from '../auth/principal';
import { OciError } from '../oci/errors';
import type { Logger } from './logger';
import type { Metrics } from './metrics';
import { sourceAddress } from './source-address';

/**
 * The administration API over HTTP (what `cairn admin` does on the database, for remote operators):
 * a bearer token whose principal policy allows `admin` on the registry, which the built-in policies
 * grant only to sessions authenticated with MFA (a personal access token obtained with a TOTP code).
 */
export function adminApi(auth: AuthRuntime, metrics: Metrics, logger: Logger, trustProxy: boolean): express.Router {
  const router = express.Router();
  router.use('/admin', express.json({ limit: '16kb' }));

  const admin = async (req: IncomingMessage): Promise<Principal> => {
    const ip = sourceAddress(req, trustProxy);
    const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    if (!m) throw new OciError('UNAUTHORIZED', 'a bearer token is required', undefined, { headers: { 'WWW-Authenticate': 'Bearer realm="cairn",service="cairn"' } });
    let principal: Principal;
    try {
      principal = (await auth.tokens.verify(m[1]!)).principal;
    } catch (err) {
      if (err instanceof InvalidToken) throw new OciError('UNAUTHORIZED', err.message);
      throw err;
    }
    if (!(await auth.revocation.isActive(principal))) throw new OciError('UNAUTHORIZED', 'credentials disabled or revoked');
    const d = auth.authorizer.authorize({ principal, action: 'admin', resource: { type: 'registry' }, context: { sourceIp: ip } });
    metrics.authorizations.labels('admin', d.allowed ? 'allow' : 'deny').inc();
    logger[d.allowed ? 'info' : 'warn']({ event: 'authz', ip, principal: principal.id, action: 'admin', resource: 'registry', decision: d.allowed ? 'allow' : 'deny', policies: d.policies, at: req.url }, d.allowed ? 'admin access' : 'admin access denied');
    if (!d.allowed) throw new OciError('DENIED', principal.mfa ? `${principal.id} may not administer this registry` : 'administration requires a session authenticated with MFA', { policies: d.policies });
    return principal;
  };

  router.get('/admin/users', async (req, res) => {
    await admin(req);
    const users = await auth.store.listUsers();
    res.json({ users: users.map((u) => ({ name: u.name, groups: u.groups, disabled: u.disabled, mfa: u.totpEnabled })) });
  });

  router.post('/admin/users/:name/disable', async (req, res) => {
    const who = await admin(req);
    const name = String(req.params.name);
    if (!(await auth.store.updateUser(name, { disabled: true }))) throw new OciError('NAME_UNKNOWN', 'no such user', { name }, { status: 404 });
    const revoked = await auth.store.revokeCredentialsOf(`user:${name}`);
    logger.warn({ event: 'admin', principal: who.id, action: 'user-disable', user: name, revoked }, 'user disabled');
    res.json({ name, disabled: true, tokensRevoked: revoked });
  });
  return router;
}
