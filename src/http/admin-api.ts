import type { IncomingMessage, ServerResponse } from 'node:http';
import express from 'express';
import type { AuthRuntime } from './auth-runtime';
import type { Principal } from '../auth/principal';
import { OciError } from '../oci/errors';
import type { Logger } from '../observability/logger';
import type { AccessGate } from './access-gate';
import type { RequestContext } from './context';
import { sourceAddress } from './source-address';
import type { AuditLog } from '../audit/audit-log';

/**
 * The administration API over HTTP (what `cairn admin` does on the database, for remote operators):
 * a bearer token whose principal policy allows `admin` on the registry, which the built-in policies
 * grant only to sessions authenticated with MFA (a personal access token obtained with a TOTP code).
 */
export function adminApi(
  auth: AuthRuntime,
  gate: AccessGate,
  ctxOf: (res: ServerResponse) => RequestContext,
  logger: Logger,
  trustProxy: boolean,
  audit?: AuditLog,
): express.Router {
  const router = express.Router();
  router.use('/admin', express.json({ limit: '16kb' }));

  const admin = async (req: IncomingMessage, res: ServerResponse): Promise<Principal> => {
    const ctx = ctxOf(res);
    await gate.enter(req, ctx, { kind: 'registry', action: 'admin' });
    return ctx.auth!.principal;
  };

  router.get('/admin/users', async (req, res) => {
    await admin(req, res);
    const users = await auth.store.listUsers();
    res.json({
      users: users.map((u) => ({ name: u.name, groups: u.groups, disabled: u.disabled, mfa: u.totpEnabled })),
    });
  });

  router.post('/admin/users/:name/disable', async (req, res) => {
    const who = await admin(req, res);
    const name = String(req.params.name);
    if (!(await auth.store.updateUser(name, { disabled: true })))
      throw new OciError('NOT_FOUND', 'no such user', { name });
    const revoked = await auth.store.revokeCredentialsOf(`user:${name}`);
    logger.warn({ event: 'admin', principal: who.id, action: 'user-disable', user: name, revoked }, 'user disabled');
    await audit?.append({
      type: 'admin.user.disable',
      identity: who.id,
      source: sourceAddress(req, trustProxy),
      action: 'admin',
      decision: 'allow',
      detail: { user: name, tokensRevoked: revoked },
    });
    res.json({ name, disabled: true, tokensRevoked: revoked });
  });
  return router;
}
