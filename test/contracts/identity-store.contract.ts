import type { Catalog } from '../../src/catalog/catalog';
import { createIdentityStore } from '../../src/auth';
import { IdentityConflict, type IdentityStore } from '../../src/auth/identity-store';

/** The behaviour every IdentityStore must have, on every database engine. */
export function identityStoreContract(
  name: string,
  make: () => Promise<{ catalog: Catalog; cleanup(): Promise<void> }>,
): void {
  describe(`IdentityStore contract: ${name}`, () => {
    let catalog: Catalog;
    let cleanup: () => Promise<void>;
    let s: IdentityStore;
    beforeAll(async () => {
      ({ catalog, cleanup } = await make());
      await catalog.init();
      s = createIdentityStore(catalog);
    });
    afterAll(async () => {
      await catalog.close();
      await cleanup();
    });

    it('creates, reads, updates users and refuses a duplicate name', async () => {
      await s.createUser({ name: 'alice', passwordHash: '$argon2id$x', groups: ['ml'], disabled: false });
      await expect(
        s.createUser({ name: 'alice', passwordHash: 'y', groups: [], disabled: false }),
      ).rejects.toBeInstanceOf(IdentityConflict);
      const u = (await s.getUser('alice'))!;
      expect(u).toMatchObject({
        name: 'alice',
        passwordHash: '$argon2id$x',
        groups: ['ml'],
        disabled: false,
        totpEnabled: false,
        failedLogins: 0,
        lockedUntil: 0,
      });
      expect(
        await s.updateUser('alice', { disabled: true, groups: ['ml', 'vision'], totpSecret: 'ABC', totpEnabled: true }),
      ).toBe(true);
      expect(await s.getUser('alice')).toMatchObject({
        disabled: true,
        groups: ['ml', 'vision'],
        totpSecret: 'ABC',
        totpEnabled: true,
      });
      expect(await s.updateUser('alice', { totpSecret: undefined, totpEnabled: false })).toBe(true);
      expect((await s.getUser('alice'))!.totpSecret).toBeUndefined();
      expect(await s.updateUser('nobody', { disabled: true })).toBe(false);
      expect(await s.getUser('nobody')).toBeUndefined();
      expect((await s.listUsers()).map((x) => x.name)).toEqual(['alice']);
    });

    it('counts failed logins and locks after the limit, then starts the count again', async () => {
      await s.createUser({ name: 'bob', passwordHash: 'h', groups: [], disabled: false });
      expect((await s.recordLoginFailure('bob', 3, 60_000)).failures).toBe(1);
      expect((await s.recordLoginFailure('bob', 3, 60_000)).lockedUntil).toBe(0);
      const third = await s.recordLoginFailure('bob', 3, 60_000);
      expect(third.failures).toBe(3);
      expect(third.lockedUntil).toBeGreaterThan(Date.now() + 50_000);
      expect(await s.getUser('bob')).toMatchObject({ failedLogins: 0, lockedUntil: third.lockedUntil });
      await s.clearLoginFailures('bob');
      await s.recordLoginFailure('bob', 3, 60_000);
      await s.clearLoginFailures('bob');
      expect((await s.getUser('bob'))!.failedLogins).toBe(0);
      expect(await s.recordLoginFailure('ghost', 3, 1000)).toEqual({ failures: 0, lockedUntil: 0 });
    });

    it('keeps robots with rotation time, expiry and deletion', async () => {
      await s.createRobot({
        name: 'ci',
        secretHash: 'a',
        groups: ['ci'],
        disabled: false,
        expiresAt: 123,
        description: 'CI',
      });
      await expect(
        s.createRobot({ name: 'ci', secretHash: 'b', groups: [], disabled: false, description: '' }),
      ).rejects.toBeInstanceOf(IdentityConflict);
      const before = (await s.getRobot('ci'))!;
      expect(before).toMatchObject({ secretHash: 'a', groups: ['ci'], expiresAt: 123, description: 'CI' });
      await new Promise((r) => setTimeout(r, 5));
      expect(await s.updateRobot('ci', { secretHash: 'b', expiresAt: undefined })).toBe(true);
      const after = (await s.getRobot('ci'))!;
      expect(after.secretHash).toBe('b');
      expect(after.expiresAt).toBeUndefined();
      expect(after.rotatedAt).toBeGreaterThan(before.rotatedAt);
      expect((await s.listRobots()).map((r) => r.name)).toEqual(['ci']);
      expect(await s.deleteRobot('ci')).toBe(true);
      expect(await s.deleteRobot('ci')).toBe(false);
    });

    it('stores credentials, revokes one or all of a principal', async () => {
      await s.createCredential({
        id: 'p1',
        kind: 'pat',
        principal: 'user:alice',
        secretHash: 'h1',
        label: 'laptop',
        mfa: true,
        expiresAt: Date.now() + 1000,
      });
      await s.createCredential({
        id: 'p2',
        kind: 'refresh',
        principal: 'user:alice',
        secretHash: 'h2',
        label: '',
        mfa: false,
      });
      await expect(
        s.createCredential({ id: 'p1', kind: 'pat', principal: 'x', secretHash: 'h', label: '', mfa: false }),
      ).rejects.toBeInstanceOf(IdentityConflict);
      expect(await s.getCredential('p1')).toMatchObject({
        kind: 'pat',
        principal: 'user:alice',
        mfa: true,
        label: 'laptop',
      });
      await s.touchCredential('p1');
      expect((await s.getCredential('p1'))!.lastUsedAt).toBeGreaterThan(0);
      expect(await s.revokeCredential('p1')).toBe(true);
      expect(await s.revokeCredential('p1')).toBe(false);
      expect(await s.revokeCredentialsOf('user:alice')).toBe(1);
      expect((await s.listCredentials('user:alice')).every((c) => c.revokedAt! > 0)).toBe(true);
    });

    it('upserts OIDC rules, binds roles idempotently, keeps labels', async () => {
      await s.putOidcRule({
        name: 'gha',
        issuer: 'https://token.actions.githubusercontent.com',
        audience: 'cairn',
        claims: { repository: 'org/*' },
        groups: ['ci'],
        description: '',
        disabled: false,
      });
      await s.putOidcRule({
        name: 'gha',
        issuer: 'https://token.actions.githubusercontent.com',
        audience: 'cairn',
        claims: { repository: 'org/models', ref: 'refs/heads/main' },
        groups: [],
        description: 'main only',
        disabled: false,
      });
      expect(await s.listOidcRules()).toEqual([
        expect.objectContaining({
          name: 'gha',
          claims: { repository: 'org/models', ref: 'refs/heads/main' },
          description: 'main only',
        }),
      ]);
      expect(await s.deleteOidcRule('gha')).toBe(true);
      await s.bindRole({ principal: 'group:ml', role: 'publisher', scope: 'ml/' });
      await s.bindRole({ principal: 'group:ml', role: 'publisher', scope: 'ml/' });
      await s.bindRole({ principal: 'user:alice', role: 'admin', scope: '*' });
      expect((await s.listRoleBindings()).map((b) => `${b.principal} ${b.role} ${b.scope}`)).toEqual([
        'group:ml publisher ml/',
        'user:alice admin *',
      ]);
      expect(await s.unbindRole({ principal: 'group:ml', role: 'publisher', scope: 'ml/' })).toBe(true);
      expect(await s.unbindRole({ principal: 'group:ml', role: 'publisher', scope: 'ml/' })).toBe(false);
      await s.setLabels({ name: 'ml/secret', ownerTeam: 'vision', sensitivity: 'restricted' });
      await s.setLabels({ name: 'ml/secret', ownerTeam: 'nlp', sensitivity: 'restricted' });
      expect(await s.listLabels()).toEqual([
        expect.objectContaining({ name: 'ml/secret', ownerTeam: 'nlp', sensitivity: 'restricted' }),
      ]);
    });

    it('rotates signing keys: the new one active, the others retired, then dropped', async () => {
      await s.addSigningKey({ kid: 'k1', alg: 'ES256', privatePem: 'p1', publicJwk: { kty: 'EC' }, createdAt: 1 });
      await s.addSigningKey({ kid: 'k2', alg: 'ES256', privatePem: 'p2', publicJwk: { kty: 'EC' }, createdAt: 2 });
      await s.retireSigningKeysExcept('k2', 1000);
      expect((await s.listSigningKeys()).map((k) => [k.kid, k.retiredAt])).toEqual([
        ['k1', 1000],
        ['k2', undefined],
      ]);
      await s.deleteSigningKey('k1');
      expect((await s.listSigningKeys()).map((k) => k.kid)).toEqual(['k2']);
    });
  });
}
