import type { ServerResponse } from 'node:http';
import express from 'express';
import type { AuthRuntime } from './auth-runtime';
import type { Config } from '../config/config';
import { ACCOUNT_NAME, IdentityConflict } from '../auth/identity-store';
import { hashPassword } from '../auth/passwords';
import { issueSecret, randomPassword } from '../auth/secrets';
import { OciError } from '../oci/errors';
import type { Logger } from '../observability/logger';
import type { AccessGate } from './access-gate';
import type { RequestContext } from './context';
import { sourceAddress } from './source-address';
import type { AuditLog } from '../audit/audit-log';
import { adminAccessRoutes } from './admin-access-api';
import type { AdminContext } from './admin-context';

const groupsOf = (v: unknown): string[] => {
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.some((g) => typeof g !== 'string' || !g.trim() || g.length > 100))
    throw new OciError('PARAMETER_INVALID', 'groups must be a list of names', undefined);
  return (v as string[]).map((g) => g.trim());
};

const nameOf = (v: unknown, what: string): string => {
  if (typeof v !== 'string' || !ACCOUNT_NAME.test(v))
    throw new OciError('PARAMETER_INVALID', `invalid ${what} name (lower-case letters, digits, . _ -)`, {
      name: typeof v === 'string' ? v.slice(0, 100) : null,
    });
  return v;
};

/**
 * The administration API over HTTP (what `cairn admin` does on the database, for remote operators and the
 * console): a bearer token whose principal policy allows `admin` on the registry, which the built-in
 * policies grant only to sessions authenticated with MFA. Users and robots here; role bindings, OIDC
 * rules, labels, keys and the policy test in admin-access-api.ts.
 */
export function adminApi(
  auth: AuthRuntime,
  gate: AccessGate,
  ctxOf: (res: ServerResponse) => RequestContext,
  logger: Logger,
  authConfig: Pick<Config['auth'], 'trustProxy' | 'service' | 'allowHttpIssuers'>,
  audit?: AuditLog,
): express.Router {
  const { trustProxy } = authConfig;
  const router = express.Router();
  router.use('/admin', express.json({ limit: '16kb' }));

  const a: AdminContext = {
    auth,
    service: authConfig.service,
    allowHttpIssuers: authConfig.allowHttpIssuers,
    admin: async (req, res) => {
      const ctx = ctxOf(res);
      await gate.enter(req, ctx, { kind: 'registry', action: 'admin' });
      return ctx.auth!.principal;
    },
    changed: async (req, who, type, detail) => {
      logger.warn({ event: 'admin', principal: who.id, action: type, ...detail }, 'administrative change');
      await audit?.append({
        type,
        identity: who.id,
        source: sourceAddress(req, trustProxy),
        action: 'admin',
        decision: 'allow',
        detail: Object.fromEntries(Object.entries(detail).map(([k, v]) => [k, String(v)])),
      });
    },
  };
  const conflict = (err: unknown): never => {
    if (err instanceof IdentityConflict) throw new OciError('CONFLICT', err.message, undefined);
    throw err;
  };

  router.get('/admin/users', async (req, res) => {
    await a.admin(req, res);
    const users = await auth.store.listUsers();
    res.json({
      users: users.map((u) => ({
        name: u.name,
        groups: u.groups,
        disabled: u.disabled,
        mfa: u.totpEnabled,
        ...(u.lockedUntil > Date.now() ? { lockedUntil: new Date(u.lockedUntil).toISOString() } : {}),
      })),
    });
  });

  // A new user with a generated password, shown once: the person changes it and enrols MFA.
  router.post('/admin/users', async (req, res) => {
    const who = await a.admin(req, res);
    const name = nameOf(req.body?.name, 'user');
    const groups = groupsOf(req.body?.groups);
    const password = randomPassword();
    await auth.store
      .createUser({ name, passwordHash: await hashPassword(password), groups, disabled: false })
      .catch(conflict);
    await a.changed(req, who, 'admin.users.add', { user: name });
    res.setHeader('Cache-Control', 'no-store');
    res.status(201).json({ name, groups, password, note: 'shown once' });
  });

  for (const [verb, disabled] of [
    ['disable', true],
    ['enable', false],
  ] as const) {
    router.post(`/admin/users/:name/${verb}`, async (req, res) => {
      const who = await a.admin(req, res);
      const name = String(req.params.name);
      if (!(await auth.store.updateUser(name, { disabled }))) throw new OciError('NOT_FOUND', 'no such user', { name });
      let revoked = 0;
      if (disabled) revoked = await auth.store.revokeCredentialsOf(`user:${name}`);
      else await auth.store.clearLoginFailures(name);
      await a.changed(req, who, `admin.user.${verb}`, { user: name, ...(disabled ? { tokensRevoked: revoked } : {}) });
      res.json({ name, disabled, ...(disabled ? { tokensRevoked: revoked } : {}) });
    });
  }

  router.get('/admin/robots', async (req, res) => {
    await a.admin(req, res);
    res.json({
      robots: (await auth.store.listRobots()).map((r) => ({
        name: r.name,
        user: `robot$${r.name}`,
        groups: r.groups,
        disabled: r.disabled,
        description: r.description,
        expiresAt: r.expiresAt ? new Date(r.expiresAt).toISOString() : null,
        rotatedAt: new Date(r.rotatedAt).toISOString(),
      })),
    });
  });

  router.post('/admin/robots', async (req, res) => {
    const who = await a.admin(req, res);
    const name = nameOf(req.body?.name, 'robot');
    const groups = groupsOf(req.body?.groups);
    const days = req.body?.expiresInDays;
    if (days !== undefined && (!Number.isInteger(days) || days < 1 || days > 3650))
      throw new OciError('PARAMETER_INVALID', 'expiresInDays must be a whole number from 1 to 3650', undefined);
    const description = typeof req.body?.description === 'string' ? req.body.description.slice(0, 200) : '';
    const secret = issueSecret('robot');
    const expiresAt = days ? Date.now() + days * 86_400_000 : undefined;
    await auth.store
      .createRobot({ name, secretHash: secret.hash, groups, disabled: false, description, expiresAt })
      .catch(conflict);
    await a.changed(req, who, 'admin.robots.add', { robot: name });
    res.setHeader('Cache-Control', 'no-store');
    res.status(201).json({
      user: `robot$${name}`,
      secret: secret.secret,
      expiresAt: expiresAt ? new Date(expiresAt).toISOString() : null,
      note: 'shown once',
    });
  });

  for (const [verb, disabled] of [
    ['disable', true],
    ['enable', false],
  ] as const) {
    router.post(`/admin/robots/:name/${verb}`, async (req, res) => {
      const who = await a.admin(req, res);
      const name = String(req.params.name);
      if (!(await auth.store.updateRobot(name, { disabled })))
        throw new OciError('NOT_FOUND', 'no such robot', { name });
      if (disabled) await auth.store.revokeCredentialsOf(`robot:${name}`);
      await a.changed(req, who, `admin.robots.${verb}`, { robot: name });
      res.json({ name, disabled });
    });
  }

  router.use(adminAccessRoutes(a));
  return router;
}
