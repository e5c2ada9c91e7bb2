import type { Catalog } from '../../src/catalog/catalog';
import { createIdentityStore } from '../../src/auth';
import { IdentityConflict, type IdentityStore } from '../../src/auth/identity-store';
import { randomBytes } from 'node:crypto';
import { KyselyCatalog } from '../../src/catalog/kysely-catalog';
import { FileKeyEncryptionKey } from '../../src/keys/key-encryption';
import { KeyRing } from '../../src/keys/key-ring';
import { SecretSealer } from '../../src/keys/sealed-secrets';

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

    it('seals TOTP seeds and token-signing keys when encryption is on, bound to their rows, resealed on rotation', async () => {
      const db = (catalog as KyselyCatalog).db;
      const old = new FileKeyEncryptionKey(randomBytes(32));
      const sealed = createIdentityStore(catalog, new SecretSealer(new KeyRing(old)));
      const plain = createIdentityStore(catalog);
      await sealed.createUser({
        name: 'sealy',
        passwordHash: 'h',
        groups: [],
        disabled: false,
        totpSecret: 'JBSWY3DPEHPK3PXP',
      });
      const raw = async (user: string) =>
        (await db.selectFrom('users').select('totp_secret').where('name', '=', user).executeTakeFirstOrThrow())
          .totp_secret!;
      expect(await raw('sealy')).toMatch(/^sealed:v1:/);
      expect(await raw('sealy')).not.toContain('JBSWY3DPEHPK3PXP');
      expect((await sealed.getUser('sealy'))!.totpSecret).toBe('JBSWY3DPEHPK3PXP');
      await sealed.updateUser('sealy', { totpSecret: 'KRSXG5CTMVRXEZLU' });
      expect((await sealed.getUser('sealy'))!.totpSecret).toBe('KRSXG5CTMVRXEZLU');
      await sealed.addSigningKey({
        kid: 'sealed-kid',
        alg: 'ES256',
        privatePem: '-----PRIVATE-----',
        publicJwk: {},
        createdAt: 1,
      });
      const pem = await db
        .selectFrom('signing_keys')
        .select('private_pem')
        .where('kid', '=', 'sealed-kid')
        .executeTakeFirstOrThrow();
      expect(pem.private_pem).toMatch(/^sealed:v1:/);
      expect((await sealed.listSigningKeys()).find((k) => k.kid === 'sealed-kid')!.privatePem).toBe(
        '-----PRIVATE-----',
      );
      // A sealed value copied to another row does not open there.
      await plain.createUser({ name: 'copycat', passwordHash: 'h', groups: [], disabled: false });
      await db
        .updateTable('users')
        .set({ totp_secret: await raw('sealy') })
        .where('name', '=', 'copycat')
        .execute();
      await expect(sealed.getUser('copycat')).rejects.toThrow(/altered or belongs to another row/);
      await db.updateTable('users').set({ totp_secret: null }).where('name', '=', 'copycat').execute();
      // Written before encryption: sealed by resealSecrets, then moved to a new key after a rotation.
      await plain.createUser({
        name: 'legacy',
        passwordHash: 'h',
        groups: [],
        disabled: false,
        totpSecret: 'GEZDGNBVGY3TQOJQ',
      });
      expect(await raw('legacy')).toBe('GEZDGNBVGY3TQOJQ');
      // (with whatever earlier tests here stored in plaintext)
      expect(await sealed.resealSecrets()).toBeGreaterThanOrEqual(1);
      expect(await raw('legacy')).toMatch(/^sealed:v1:/);
      const next = new FileKeyEncryptionKey(randomBytes(32));
      const rotated = createIdentityStore(catalog, new SecretSealer(new KeyRing(next, [old])));
      const before = await sealed.storedSecrets();
      expect(await rotated.resealSecrets()).toBe(before.filter((v) => v.startsWith('sealed:')).length);
      expect(new Set((await rotated.storedSecrets()).map((v) => SecretSealer.sealedBy(v)))).toEqual(new Set([next.id]));
      expect(await rotated.resealSecrets()).toBe(0);
      expect((await rotated.getUser('legacy'))!.totpSecret).toBe('GEZDGNBVGY3TQOJQ');
      expect((await rotated.listSigningKeys()).find((k) => k.kid === 'sealed-kid')!.privatePem).toBe(
        '-----PRIVATE-----',
      );
    });
  });
}
