import express from 'express';
import { ACTIONS, type Action } from '../auth/principal';
import { bindingPrincipalUid, scopeUid } from '../policy/cedar-entities';
import { PolicyError } from '../policy/cedar-authorizer';
import { principalOf, resourceOf } from '../policy/policy-test';
import { OciError } from '../oci/errors';
import { ACCOUNT_NAME } from '../auth/identity-store';
import type { AdminContext } from './admin-context';

const text = (v: unknown, what: string, max = 200): string => {
  if (typeof v !== 'string' || !v.trim() || v.length > max)
    throw new OciError('PARAMETER_INVALID', `${what} is required (at most ${max} characters)`, undefined);
  return v.trim();
};

/**
 * Who may do what: role bindings, OIDC trust rules, labels and token signing keys, and the policy test
 * (`cairn policy test` over HTTP) that answers "may this principal do this here, and which policy says so".
 * Changes reach this replica's authorizer at once and the others within auth.policyReloadSeconds.
 */
export function adminAccessRoutes(a: AdminContext): express.Router {
  const router = express.Router();
  const store = a.auth.store;
  const binding = (body: Record<string, unknown> | undefined) => {
    const principal = text(body?.principal, 'principal');
    const role = text(body?.role, 'role', 100);
    const scope = text(body?.scope, 'scope');
    if (!bindingPrincipalUid(principal))
      throw new OciError(
        'PARAMETER_INVALID',
        'principal must be user:<name>, robot:<name>, oidc:<rule>, group:<name> or anonymous',
        { principal: principal.slice(0, 100) },
      );
    if (!scopeUid(scope))
      throw new OciError('PARAMETER_INVALID', 'scope must be *, a namespace ending in / or a repository', {
        scope: scope.slice(0, 100),
      });
    return { principal, role, scope };
  };

  router.get('/admin/roles', async (req, res) => {
    await a.admin(req, res);
    res.json({
      bindings: (await store.listRoleBindings()).map(({ principal, role, scope }) => ({ principal, role, scope })),
    });
  });
  router.post('/admin/roles', async (req, res) => {
    const who = await a.admin(req, res);
    const b = binding(req.body);
    await store.bindRole(b);
    await a.auth.authorizer.load();
    await a.changed(req, who, 'admin.roles.bind', b);
    res.status(201).json(b);
  });
  router.delete('/admin/roles', async (req, res) => {
    const who = await a.admin(req, res);
    const b = binding(req.body);
    if (!(await store.unbindRole(b))) throw new OciError('NOT_FOUND', 'no such binding', b);
    await a.auth.authorizer.load();
    await a.changed(req, who, 'admin.roles.unbind', b);
    res.status(204).end();
  });

  router.get('/admin/oidc', async (req, res) => {
    await a.admin(req, res);
    res.json({
      rules: (await store.listOidcRules()).map((r) => ({
        name: r.name,
        issuer: r.issuer,
        audience: r.audience,
        claims: r.claims,
        groups: r.groups,
        description: r.description,
        disabled: r.disabled,
      })),
    });
  });
  // A trust rule for CI jobs and service accounts: at least one claim, or every token of the issuer would do.
  router.post('/admin/oidc', async (req, res) => {
    const who = await a.admin(req, res);
    const name = text(req.body?.name, 'name', 63);
    if (!ACCOUNT_NAME.test(name))
      throw new OciError('PARAMETER_INVALID', 'invalid rule name (lower-case letters, digits, . _ -)', { name });
    const issuer = text(req.body?.issuer, 'issuer', 500);
    let url: URL;
    try {
      url = new URL(issuer);
    } catch {
      throw new OciError('PARAMETER_INVALID', 'issuer must be a URL', { issuer: issuer.slice(0, 100) });
    }
    if (url.protocol !== 'https:' && !(a.allowHttpIssuers && url.protocol === 'http:'))
      throw new OciError('PARAMETER_INVALID', 'issuer must be https', { issuer: issuer.slice(0, 100) });
    const raw = req.body?.claims;
    if (!raw || typeof raw !== 'object' || Array.isArray(raw) || Object.keys(raw).length === 0)
      throw new OciError(
        'PARAMETER_INVALID',
        'at least one claim pattern is required: a rule matching every token of an issuer trusts all of its users',
        undefined,
      );
    const claims: Record<string, string> = {};
    for (const [k, v] of Object.entries(raw as Record<string, unknown>))
      claims[text(k, 'claim name', 100)] = text(v, `claim ${k}`, 500);
    const rule = {
      name,
      issuer,
      audience: req.body?.audience ? text(req.body.audience, 'audience') : a.service,
      claims,
      groups: Array.isArray(req.body?.groups) ? req.body.groups.map((g: unknown) => text(g, 'group', 100)) : [],
      description: typeof req.body?.description === 'string' ? req.body.description.slice(0, 200) : '',
      disabled: false,
    };
    await store.putOidcRule(rule);
    await a.changed(req, who, 'admin.oidc.add', { rule: name, issuer });
    res.status(201).json(rule);
  });

  router.delete('/admin/oidc/:name', async (req, res) => {
    const who = await a.admin(req, res);
    const name = String(req.params.name);
    if (!(await store.deleteOidcRule(name))) throw new OciError('NOT_FOUND', 'no such OIDC rule', { name });
    await a.changed(req, who, 'admin.oidc.remove', { rule: name });
    res.status(204).end();
  });

  router.get('/admin/labels', async (req, res) => {
    await a.admin(req, res);
    res.json({
      labels: (await store.listLabels()).map((l) => ({
        name: l.name,
        ownerTeam: l.ownerTeam ?? null,
        sensitivity: l.sensitivity ?? null,
        updatedAt: new Date(l.updatedAt).toISOString(),
      })),
    });
  });
  router.put('/admin/labels', async (req, res) => {
    const who = await a.admin(req, res);
    const name = text(req.body?.name, 'name');
    if (!scopeUid(name) || name === '*')
      throw new OciError('PARAMETER_INVALID', 'labels apply to a namespace (ending in /) or a repository', { name });
    const opt = (k: string) =>
      req.body?.[k] === undefined || req.body[k] === null || req.body[k] === '' ? undefined : text(req.body[k], k, 100);
    const labels = { name, ownerTeam: opt('ownerTeam'), sensitivity: opt('sensitivity') };
    await store.setLabels(labels);
    await a.auth.authorizer.load();
    await a.changed(req, who, 'admin.labels.set', {
      name,
      ownerTeam: labels.ownerTeam ?? '',
      sensitivity: labels.sensitivity ?? '',
    });
    res.json(labels);
  });

  // Public halves only: the private keys never leave the database.
  router.get('/admin/keys', async (req, res) => {
    await a.admin(req, res);
    res.json({
      keys: (await store.listSigningKeys()).map((k) => ({
        kid: k.kid,
        alg: k.alg,
        createdAt: new Date(k.createdAt).toISOString(),
        retiredAt: k.retiredAt ? new Date(k.retiredAt).toISOString() : null,
      })),
    });
  });

  // New tokens are signed with a new key; the old one verifies until the tokens it signed have expired.
  router.post('/admin/keys/rotate', async (req, res) => {
    const who = await a.admin(req, res);
    const kid = await a.auth.keys.rotate();
    await a.changed(req, who, 'admin.keys.rotate', { kid });
    res.status(201).json({ kid });
  });

  router.post('/admin/policy/test', async (req, res) => {
    await a.admin(req, res);
    const action = text(req.body?.action, 'action', 20);
    if (!(ACTIONS as readonly string[]).includes(action))
      throw new OciError('PARAMETER_INVALID', `action must be one of ${ACTIONS.join(', ')}`, { action });
    const resource = text(req.body?.resource, 'resource');
    const who = text(req.body?.principal, 'principal');
    let principal;
    try {
      principal = principalOf(who, [], req.body?.mfa === true);
    } catch (err) {
      if (err instanceof PolicyError) throw new OciError('PARAMETER_INVALID', err.message, undefined);
      throw err;
    }
    // The groups the account really has, unless the question names others.
    if (Array.isArray(req.body?.groups))
      principal.groups = req.body.groups.filter((g: unknown) => typeof g === 'string');
    else if (principal.kind === 'user') principal.groups = (await store.getUser(principal.name))?.groups ?? [];
    else if (principal.kind === 'robot') principal.groups = (await store.getRobot(principal.name))?.groups ?? [];
    const stage = typeof req.body?.stage === 'string' && req.body.stage ? req.body.stage : undefined;
    const d = a.auth.authorizer.authorize({
      principal,
      action: action as Action,
      resource: resourceOf(resource),
      context: {
        sourceIp: typeof req.body?.ip === 'string' ? req.body.ip : '127.0.0.1',
        ...(stage ? { targetStage: stage } : {}),
      },
    });
    res.json({
      decision: d.allowed ? 'allow' : 'deny',
      principal: who,
      groups: principal.groups,
      action,
      resource,
      policies: d.policies,
      errors: d.errors,
    });
  });
  return router;
}
