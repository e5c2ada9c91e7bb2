import { mkdtemp, rm, writeFile, cp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CedarAuthorizer, PolicyError } from '../../../src/policy/cedar-authorizer';
import { BUILTIN_POLICY_DIR } from '../../../src/policy/defaults';
import type { IdentityStore, ResourceLabels, RoleBinding } from '../../../src/auth/identity-store';
import type { Action, Principal } from '../../../src/auth/principal';
import type { AuthzResource } from '../../../src/policy/authorizer';

/** Just what the authorizer reads from the identity store. */
function store(
  bindings: Omit<RoleBinding, 'createdAt'>[],
  labels: Omit<ResourceLabels, 'updatedAt'>[] = [],
): IdentityStore {
  return {
    listRoleBindings: async () => bindings.map((b) => ({ ...b, createdAt: 0 })),
    listLabels: async () => labels.map((l) => ({ ...l, updatedAt: 0 })),
  } as unknown as IdentityStore;
}

const user = (name: string, groups: string[] = [], mfa = false): Principal => ({
  id: `user:${name}`,
  kind: 'user',
  name,
  groups,
  mfa,
});
const robot = (name: string, groups: string[] = []): Principal => ({
  id: `robot:${name}`,
  kind: 'robot',
  name,
  groups,
  mfa: false,
});
const anonymous: Principal = { id: 'anonymous', kind: 'anonymous', name: 'anonymous', groups: [], mfa: false };
const repo = (name: string): AuthzResource => ({ type: 'repository', name });
const registry: AuthzResource = { type: 'registry' };

async function authorizer(
  bindings: Omit<RoleBinding, 'createdAt'>[],
  labels: Omit<ResourceLabels, 'updatedAt'>[] = [],
  extra?: Record<string, string>,
) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'cairn-policy-'));
  await cp(BUILTIN_POLICY_DIR, dir, { recursive: true });
  for (const [f, text] of Object.entries(extra ?? {})) await writeFile(path.join(dir, f), text);
  const a = new CedarAuthorizer(dir, store(bindings, labels));
  await a.load();
  const can = (
    p: Principal,
    action: Action,
    resource: AuthzResource,
    context: { sourceIp?: string; now?: Date } = {},
  ) =>
    a.authorize({
      principal: p,
      action,
      resource,
      context: { sourceIp: context.sourceIp ?? '10.1.2.3', now: context.now },
    });
  return { a, can, dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

const ALL: Action[] = ['pull', 'push', 'delete', 'tag', 'approve'];
const allowedOn = (
  can: (p: Principal, a: Action, r: AuthzResource) => { allowed: boolean },
  p: Principal,
  r: AuthzResource,
) => ALL.filter((x) => can(p, x, r).allowed);

describe('built-in roles (policies/roles.cedar) and base rules', () => {
  it('denies everything without a binding (default deny), anonymous included', async () => {
    const { can, cleanup } = await authorizer([]);
    for (const p of [user('alice'), robot('ci'), anonymous]) {
      expect(allowedOn(can, p, repo('ml/bert'))).toEqual([]);
      expect(can(p, 'admin', registry).allowed).toBe(false);
    }
    await cleanup();
  });

  it('grants each role exactly its actions, inside its scope only', async () => {
    const { can, cleanup } = await authorizer([
      { principal: 'user:rita', role: 'reader', scope: 'ml/' },
      { principal: 'user:paul', role: 'publisher', scope: 'ml/' },
      { principal: 'user:anna', role: 'approver', scope: 'ml/bert' },
      { principal: 'user:max', role: 'maintainer', scope: 'ml/' },
      { principal: 'user:ada', role: 'admin', scope: '*' },
      { principal: 'user:aud', role: 'auditor', scope: '*' },
    ]);
    const inside = repo('ml/team/bert');
    expect(allowedOn(can, user('rita'), inside)).toEqual(['pull']);
    expect(allowedOn(can, user('paul'), inside)).toEqual(['pull', 'push', 'tag']);
    expect(allowedOn(can, user('anna'), repo('ml/bert'))).toEqual(['pull', 'approve']);
    expect(allowedOn(can, user('anna'), repo('ml/bert2'))).toEqual([]);
    expect(allowedOn(can, user('max'), inside)).toEqual(['pull', 'push', 'delete', 'tag', 'approve']);
    expect(allowedOn(can, user('ada'), inside)).toEqual(ALL);
    expect(allowedOn(can, user('aud'), inside)).toEqual(['pull']);
    // Outside the namespace, nothing; a prefix that is not a namespace boundary is outside.
    for (const name of ['rita', 'paul', 'max']) expect(allowedOn(can, user(name), repo('mlx/bert'))).toEqual([]);
    expect(allowedOn(can, user('paul'), repo('vision/resnet'))).toEqual([]);
    // Administration and the audit log.
    expect(can(user('aud'), 'read-audit', registry).allowed).toBe(true);
    expect(can(user('aud'), 'admin', registry).allowed).toBe(false);
    expect(can(user('max'), 'read-audit', registry).allowed).toBe(false);
    await cleanup();
  });

  it('requires MFA for admin actions, whatever the role, and names the deciding policies', async () => {
    const { can, cleanup } = await authorizer([{ principal: 'user:ada', role: 'admin', scope: '*' }]);
    const without = can(user('ada'), 'admin', registry);
    expect(without).toMatchObject({ allowed: false, policies: ['admin-requires-mfa'] });
    const withMfa = can(user('ada', [], true), 'admin', registry);
    expect(withMfa).toMatchObject({ allowed: true, policies: ['admin[user:ada on *]'] });
    await cleanup();
  });

  it('grants through groups, robots, OIDC rules and anonymous bindings', async () => {
    const { can, cleanup } = await authorizer([
      { principal: 'group:ml-team', role: 'publisher', scope: 'ml/' },
      { principal: 'robot:ci', role: 'publisher', scope: 'ml/models/' },
      { principal: 'oidc:gha-main', role: 'publisher', scope: 'ml/' },
      { principal: 'anonymous', role: 'reader', scope: 'public/' },
    ]);
    expect(can(user('bob', ['ml-team']), 'push', repo('ml/x')).allowed).toBe(true);
    expect(can(user('bob', ['other']), 'push', repo('ml/x')).allowed).toBe(false);
    expect(can(robot('ci'), 'push', repo('ml/models/bert')).allowed).toBe(true);
    expect(can(robot('ci'), 'push', repo('ml/data/set')).allowed).toBe(false);
    const fed: Principal = {
      id: 'oidc:gha-main',
      kind: 'federated',
      name: 'gha-main',
      groups: [],
      mfa: false,
      federated: { issuer: 'https://issuer', subject: 'repo:org/x:ref:refs/heads/main' },
    };
    expect(can(fed, 'push', repo('ml/x')).allowed).toBe(true);
    expect(can(anonymous, 'pull', repo('public/bert')).allowed).toBe(true);
    expect(can(anonymous, 'push', repo('public/bert')).allowed).toBe(false);
    expect(can(anonymous, 'pull', repo('ml/x')).allowed).toBe(false);
    await cleanup();
  });

  it('lets only the owning team pull a restricted repository, and only with MFA (labels inherited from the namespace)', async () => {
    const { can, cleanup } = await authorizer(
      [{ principal: 'group:everyone', role: 'reader', scope: '*' }],
      [
        { name: 'secret/', ownerTeam: 'vision', sensitivity: 'restricted' },
        { name: 'ml/bert', ownerTeam: 'nlp', sensitivity: 'restricted' },
      ],
    );
    const member = (mfa: boolean) => user('vic', ['everyone', 'vision'], mfa);
    expect(can(member(true), 'pull', repo('secret/weights')).allowed).toBe(true);
    const noMfa = can(member(false), 'pull', repo('secret/weights'));
    expect(noMfa).toMatchObject({ allowed: false, policies: ['restricted-owning-team-with-mfa'] });
    expect(can(user('olga', ['everyone'], true), 'pull', repo('secret/weights')).allowed).toBe(false);
    expect(can(user('nina', ['everyone', 'nlp'], true), 'pull', repo('ml/bert')).allowed).toBe(true);
    expect(can(member(true), 'pull', repo('ml/bert')).allowed).toBe(false);
    // Unlabelled repositories are untouched by the rule.
    expect(can(user('olga', ['everyone']), 'pull', repo('ml/other')).allowed).toBe(true);
    await cleanup();
  });

  it('enforces network and time-window conditions written as policy', async () => {
    const rule = `
@id("restricted-office-hours-from-office")
forbid (principal, action == Cairn::Action::"pull", resource)
when { resource has sensitivity && resource.sensitivity == "restricted" }
unless { context.sourceIp.isInRange(ip("10.0.0.0/8")) && context.hour >= 7 && context.hour < 19 && context.weekday >= 1 && context.weekday <= 5 };
`;
    const { can, cleanup } = await authorizer(
      [{ principal: 'group:vision', role: 'reader', scope: '*' }],
      [{ name: 'secret/', ownerTeam: 'vision', sensitivity: 'restricted' }],
      { 'window.cedar': rule },
    );
    const vic = user('vic', ['vision'], true);
    const tuesdayNoon = new Date('2026-11-24T12:00:00Z');
    const tuesdayNight = new Date('2026-11-24T22:30:00Z');
    const sunday = new Date('2026-11-22T12:00:00Z');
    expect(can(vic, 'pull', repo('secret/w'), { sourceIp: '10.4.5.6', now: tuesdayNoon }).allowed).toBe(true);
    expect(can(vic, 'pull', repo('secret/w'), { sourceIp: '::ffff:10.4.5.6', now: tuesdayNoon }).allowed).toBe(true);
    expect(can(vic, 'pull', repo('secret/w'), { sourceIp: '192.168.1.9', now: tuesdayNoon })).toMatchObject({
      allowed: false,
      policies: ['restricted-office-hours-from-office'],
    });
    expect(can(vic, 'pull', repo('secret/w'), { sourceIp: '10.4.5.6', now: tuesdayNight }).allowed).toBe(false);
    expect(can(vic, 'pull', repo('secret/w'), { sourceIp: '10.4.5.6', now: sunday }).allowed).toBe(false);
    // Elsewhere, no window.
    expect(can(vic, 'pull', repo('open/w'), { sourceIp: '192.168.1.9', now: sunday }).allowed).toBe(true);
    await cleanup();
  });

  it('refuses an invalid policy with a message naming it, and keeps the last valid set on reload', async () => {
    const { a, can, dir, cleanup } = await authorizer([{ principal: 'user:paul', role: 'publisher', scope: 'ml/' }]);
    await writeFile(
      path.join(dir, 'typo.cedar'),
      '@id("typo")\npermit (principal, action == Cairn::Action::"pul", resource);\n',
    );
    await expect(a.load()).rejects.toThrow(PolicyError);
    await expect(a.load()).rejects.toThrow(/typo/);
    expect(can(user('paul'), 'push', repo('ml/x')).allowed).toBe(true);
    const fresh = new CedarAuthorizer(dir, store([]));
    await expect(fresh.load()).rejects.toThrow(/typo\.cedar policy "typo"/);
    await writeFile(path.join(dir, 'typo.cedar'), 'this is not cedar');
    await expect(fresh.load()).rejects.toThrow(/typo\.cedar/);
    await cleanup();
  });

  it('reports a binding to a role that does not exist instead of failing the whole set', async () => {
    const { a, can, cleanup } = await authorizer([
      { principal: 'user:paul', role: 'publisher', scope: 'ml/' },
      { principal: 'user:paul', role: 'superuser', scope: '*' },
    ]);
    expect(a.warnings).toEqual([expect.stringMatching(/superuser/)]);
    expect(can(user('paul'), 'push', repo('ml/x')).allowed).toBe(true);
    expect(can(user('paul'), 'push', repo('vision/x')).allowed).toBe(false);
    await cleanup();
  });
});
