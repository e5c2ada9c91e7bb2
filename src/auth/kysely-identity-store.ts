import type { Kysely } from 'kysely';
import type { Database } from '../catalog/schema';
import {
  IdentityConflict,
  type CredentialRecord,
  type IdentityStore,
  type OidcRule,
  type ResourceLabels,
  type RobotRecord,
  type RoleBinding,
  type SigningKeyRecord,
  type UserRecord,
} from './identity-store';

type Row<T extends keyof Database> = Database[T];

const n = (v: unknown): number => Number(v);
const opt = (v: unknown): number | undefined => (v === null || v === undefined ? undefined : Number(v));
const list = (v: string): string[] => JSON.parse(v) as string[];

function isUniqueViolation(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return (
    e.code === '23505' ||
    e.code === 'SQLITE_CONSTRAINT_PRIMARYKEY' ||
    e.code === 'SQLITE_CONSTRAINT_UNIQUE' ||
    /UNIQUE constraint/.test(e.message ?? '')
  );
}

function user(r: Row<'users'>): UserRecord {
  return {
    name: r.name,
    passwordHash: r.password_hash,
    groups: list(r.groups),
    disabled: n(r.disabled) === 1,
    totpSecret: r.totp_secret ?? undefined,
    totpEnabled: n(r.totp_enabled) === 1,
    failedLogins: n(r.failed_logins),
    lockedUntil: n(r.locked_until),
    createdAt: n(r.created_at),
    updatedAt: n(r.updated_at),
  };
}

function robot(r: Row<'robots'>): RobotRecord {
  return {
    name: r.name,
    secretHash: r.secret_hash,
    groups: list(r.groups),
    disabled: n(r.disabled) === 1,
    expiresAt: opt(r.expires_at),
    description: r.description,
    createdAt: n(r.created_at),
    rotatedAt: n(r.rotated_at),
  };
}

function credential(r: Row<'credentials'>): CredentialRecord {
  return {
    id: r.id,
    kind: r.kind as CredentialRecord['kind'],
    principal: r.principal,
    secretHash: r.secret_hash,
    label: r.label,
    mfa: n(r.mfa) === 1,
    createdAt: n(r.created_at),
    expiresAt: opt(r.expires_at),
    revokedAt: opt(r.revoked_at),
    lastUsedAt: opt(r.last_used_at),
  };
}

/** The IdentityStore on the catalog's own Kysely instance (SQLite or PostgreSQL). */
/**
 * Seals secrets before they are written and opens them when read (src/keys/sealed-secrets.ts), when
 * encryption at rest is configured; `context` names the row, so a sealed value moved elsewhere fails.
 */
export interface SecretSealing {
  seal(secret: string, context: string): Promise<string>;
  open(stored: string, context: string): Promise<string>;
  /** Undefined when already sealed under the current key. */
  reseal(stored: string, context: string): Promise<string | undefined>;
}

const totpContext = (user: string) => `users.totp_secret:${user}`;
const signingKeyContext = (kid: string) => `signing_keys.private_pem:${kid}`;

export class KyselyIdentityStore implements IdentityStore {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly sealing?: SecretSealing,
  ) {}

  private async sealed(secret: string | null | undefined, context: string): Promise<string | null> {
    if (secret === undefined || secret === null) return null;
    return this.sealing ? this.sealing.seal(secret, context) : secret;
  }

  private async openUser(r: Row<'users'>): Promise<UserRecord> {
    const u = user(r);
    if (u.totpSecret !== undefined && this.sealing)
      u.totpSecret = await this.sealing.open(u.totpSecret, totpContext(u.name));
    return u;
  }

  /**
   * Seals every secret stored in plaintext (from before encryption) and re-seals those wrapped by a
   * previous key-encryption key; answers how many rows changed. For `cairn admin encrypt` and re-wrapping.
   */
  async resealSecrets(): Promise<number> {
    if (!this.sealing) return 0;
    let changed = 0;
    for (const r of await this.db.selectFrom('users').select(['name', 'totp_secret']).execute()) {
      if (r.totp_secret === null) continue;
      const next = await this.sealing.reseal(r.totp_secret, totpContext(r.name));
      if (next === undefined) continue;
      await this.db
        .updateTable('users')
        .set({ totp_secret: next })
        .where('name', '=', r.name)
        .where('totp_secret', '=', r.totp_secret)
        .execute();
      changed++;
    }
    for (const r of await this.db.selectFrom('signing_keys').select(['kid', 'private_pem']).execute()) {
      const next = await this.sealing.reseal(r.private_pem, signingKeyContext(r.kid));
      if (next === undefined) continue;
      await this.db
        .updateTable('signing_keys')
        .set({ private_pem: next })
        .where('kid', '=', r.kid)
        .where('private_pem', '=', r.private_pem)
        .execute();
      changed++;
    }
    return changed;
  }

  /** The stored secrets, as stored: for counting which key-encryption key seals them. */
  async storedSecrets(): Promise<string[]> {
    const totp = await this.db.selectFrom('users').select('totp_secret').where('totp_secret', 'is not', null).execute();
    const keys = await this.db.selectFrom('signing_keys').select('private_pem').execute();
    return [...totp.map((r) => r.totp_secret!), ...keys.map((r) => r.private_pem)];
  }

  private async insert<T>(what: string, work: () => Promise<T>): Promise<T> {
    try {
      return await work();
    } catch (err) {
      if (isUniqueViolation(err)) throw new IdentityConflict(what);
      throw err;
    }
  }

  async createUser(u: Parameters<IdentityStore['createUser']>[0]): Promise<void> {
    const now = Date.now();
    const totp = await this.sealed(u.totpSecret, totpContext(u.name));
    await this.insert(`user ${u.name}`, () =>
      this.db
        .insertInto('users')
        .values({
          name: u.name,
          password_hash: u.passwordHash,
          groups: JSON.stringify(u.groups),
          disabled: u.disabled ? 1 : 0,
          totp_secret: totp,
          totp_enabled: 0,
          failed_logins: 0,
          locked_until: 0,
          created_at: now,
          updated_at: now,
        })
        .execute(),
    );
  }

  async getUser(name: string): Promise<UserRecord | undefined> {
    const r = await this.db.selectFrom('users').selectAll().where('name', '=', name).executeTakeFirst();
    return r && this.openUser(r);
  }

  async listUsers(): Promise<UserRecord[]> {
    const rows = await this.db.selectFrom('users').selectAll().orderBy('name').execute();
    return Promise.all(rows.map((r) => this.openUser(r)));
  }

  async updateUser(name: string, p: Parameters<IdentityStore['updateUser']>[1]): Promise<boolean> {
    const set: Partial<Row<'users'>> = { updated_at: Date.now() };
    if (p.passwordHash !== undefined) set.password_hash = p.passwordHash;
    if (p.groups !== undefined) set.groups = JSON.stringify(p.groups);
    if (p.disabled !== undefined) set.disabled = p.disabled ? 1 : 0;
    if ('totpSecret' in p) set.totp_secret = await this.sealed(p.totpSecret, totpContext(name));
    if (p.totpEnabled !== undefined) set.totp_enabled = p.totpEnabled ? 1 : 0;
    const r = await this.db.updateTable('users').set(set).where('name', '=', name).executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async recordLoginFailure(
    name: string,
    lockAfter: number,
    lockMs: number,
  ): Promise<{ failures: number; lockedUntil: number }> {
    return this.db.transaction().execute(async (trx) => {
      const r = await trx
        .updateTable('users')
        .set((eb) => ({ failed_logins: eb('failed_logins', '+', 1) }))
        .where('name', '=', name)
        .returning(['failed_logins', 'locked_until'])
        .executeTakeFirst();
      if (!r) return { failures: 0, lockedUntil: 0 };
      let lockedUntil = n(r.locked_until);
      const failures = n(r.failed_logins);
      if (failures >= lockAfter) {
        lockedUntil = Date.now() + lockMs;
        // The count starts again after the lock, so a locked-out user gets a fresh set of attempts.
        await trx
          .updateTable('users')
          .set({ locked_until: lockedUntil, failed_logins: 0 })
          .where('name', '=', name)
          .execute();
      }
      return { failures, lockedUntil };
    });
  }

  async clearLoginFailures(name: string): Promise<void> {
    await this.db
      .updateTable('users')
      .set({ failed_logins: 0, locked_until: 0 })
      .where('name', '=', name)
      .where('failed_logins', '>', 0)
      .execute();
  }

  async createRobot(r: Parameters<IdentityStore['createRobot']>[0]): Promise<void> {
    const now = Date.now();
    await this.insert(`robot ${r.name}`, () =>
      this.db
        .insertInto('robots')
        .values({
          name: r.name,
          secret_hash: r.secretHash,
          groups: JSON.stringify(r.groups),
          disabled: r.disabled ? 1 : 0,
          expires_at: r.expiresAt ?? null,
          description: r.description,
          created_at: now,
          rotated_at: now,
        })
        .execute(),
    );
  }

  async getRobot(name: string): Promise<RobotRecord | undefined> {
    const r = await this.db.selectFrom('robots').selectAll().where('name', '=', name).executeTakeFirst();
    return r && robot(r);
  }

  async listRobots(): Promise<RobotRecord[]> {
    return (await this.db.selectFrom('robots').selectAll().orderBy('name').execute()).map(robot);
  }

  async updateRobot(name: string, p: Parameters<IdentityStore['updateRobot']>[1]): Promise<boolean> {
    const set: Partial<Row<'robots'>> = {};
    if (p.secretHash !== undefined) {
      set.secret_hash = p.secretHash;
      set.rotated_at = Date.now();
    }
    if (p.groups !== undefined) set.groups = JSON.stringify(p.groups);
    if (p.disabled !== undefined) set.disabled = p.disabled ? 1 : 0;
    if ('expiresAt' in p) set.expires_at = p.expiresAt ?? null;
    if (Object.keys(set).length === 0) return (await this.getRobot(name)) !== undefined;
    const r = await this.db.updateTable('robots').set(set).where('name', '=', name).executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async deleteRobot(name: string): Promise<boolean> {
    const r = await this.db.deleteFrom('robots').where('name', '=', name).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async createCredential(c: Parameters<IdentityStore['createCredential']>[0]): Promise<void> {
    await this.insert(`credential ${c.id}`, () =>
      this.db
        .insertInto('credentials')
        .values({
          id: c.id,
          kind: c.kind,
          principal: c.principal,
          secret_hash: c.secretHash,
          label: c.label,
          mfa: c.mfa ? 1 : 0,
          created_at: Date.now(),
          expires_at: c.expiresAt ?? null,
          revoked_at: c.revokedAt ?? null,
          last_used_at: null,
        })
        .execute(),
    );
  }

  async getCredential(id: string): Promise<CredentialRecord | undefined> {
    const r = await this.db.selectFrom('credentials').selectAll().where('id', '=', id).executeTakeFirst();
    return r && credential(r);
  }

  async listCredentials(principal: string): Promise<CredentialRecord[]> {
    return (
      await this.db
        .selectFrom('credentials')
        .selectAll()
        .where('principal', '=', principal)
        .orderBy('created_at')
        .execute()
    ).map(credential);
  }

  async revokeCredential(id: string): Promise<boolean> {
    const r = await this.db
      .updateTable('credentials')
      .set({ revoked_at: Date.now() })
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async revokeCredentialsOf(principal: string): Promise<number> {
    const r = await this.db
      .updateTable('credentials')
      .set({ revoked_at: Date.now() })
      .where('principal', '=', principal)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return Number(r.numUpdatedRows);
  }

  async touchCredential(id: string): Promise<void> {
    await this.db.updateTable('credentials').set({ last_used_at: Date.now() }).where('id', '=', id).execute();
  }

  async putOidcRule(rule: Parameters<IdentityStore['putOidcRule']>[0]): Promise<void> {
    const values = {
      name: rule.name,
      issuer: rule.issuer,
      audience: rule.audience,
      claims: JSON.stringify(rule.claims),
      groups: JSON.stringify(rule.groups),
      description: rule.description,
      disabled: rule.disabled ? 1 : 0,
      created_at: Date.now(),
    };
    const { name: _n, created_at: _c, ...update } = values;
    await this.db
      .insertInto('oidc_rules')
      .values(values)
      .onConflict((oc) => oc.column('name').doUpdateSet(update))
      .execute();
  }

  async listOidcRules(): Promise<OidcRule[]> {
    const rows = await this.db.selectFrom('oidc_rules').selectAll().orderBy('name').execute();
    return rows.map((r) => ({
      name: r.name,
      issuer: r.issuer,
      audience: r.audience,
      claims: JSON.parse(r.claims) as Record<string, string>,
      groups: list(r.groups),
      description: r.description,
      disabled: n(r.disabled) === 1,
      createdAt: n(r.created_at),
    }));
  }

  async deleteOidcRule(name: string): Promise<boolean> {
    const r = await this.db.deleteFrom('oidc_rules').where('name', '=', name).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async bindRole(b: Omit<RoleBinding, 'createdAt'>): Promise<void> {
    await this.db
      .insertInto('role_bindings')
      .values({ principal: b.principal, role: b.role, scope: b.scope, created_at: Date.now() })
      .onConflict((oc) => oc.columns(['principal', 'role', 'scope']).doNothing())
      .execute();
  }

  async unbindRole(b: Omit<RoleBinding, 'createdAt'>): Promise<boolean> {
    const r = await this.db
      .deleteFrom('role_bindings')
      .where('principal', '=', b.principal)
      .where('role', '=', b.role)
      .where('scope', '=', b.scope)
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async listRoleBindings(): Promise<RoleBinding[]> {
    const rows = await this.db
      .selectFrom('role_bindings')
      .selectAll()
      .orderBy('principal')
      .orderBy('role')
      .orderBy('scope')
      .execute();
    return rows.map((r) => ({ principal: r.principal, role: r.role, scope: r.scope, createdAt: n(r.created_at) }));
  }

  async addSigningKey(k: Omit<SigningKeyRecord, 'retiredAt'>): Promise<void> {
    await this.db
      .insertInto('signing_keys')
      .values({
        kid: k.kid,
        alg: k.alg,
        private_pem: (await this.sealed(k.privatePem, signingKeyContext(k.kid)))!,
        public_jwk: JSON.stringify(k.publicJwk),
        created_at: k.createdAt,
        retired_at: null,
      })
      .execute();
  }

  async listSigningKeys(): Promise<SigningKeyRecord[]> {
    const rows = await this.db.selectFrom('signing_keys').selectAll().orderBy('created_at').execute();
    return Promise.all(
      rows.map(async (r) => ({
        kid: r.kid,
        alg: r.alg,
        privatePem: this.sealing ? await this.sealing.open(r.private_pem, signingKeyContext(r.kid)) : r.private_pem,
        publicJwk: JSON.parse(r.public_jwk) as Record<string, unknown>,
        createdAt: n(r.created_at),
        retiredAt: opt(r.retired_at),
      })),
    );
  }

  async retireSigningKeysExcept(kid: string, at: number): Promise<void> {
    await this.db
      .updateTable('signing_keys')
      .set({ retired_at: at })
      .where('kid', '!=', kid)
      .where('retired_at', 'is', null)
      .execute();
  }

  async deleteSigningKey(kid: string): Promise<void> {
    await this.db.deleteFrom('signing_keys').where('kid', '=', kid).execute();
  }

  async setLabels(l: Omit<ResourceLabels, 'updatedAt'>): Promise<void> {
    const values = {
      name: l.name,
      owner_team: l.ownerTeam ?? null,
      sensitivity: l.sensitivity ?? null,
      updated_at: Date.now(),
    };
    await this.db
      .insertInto('resource_labels')
      .values(values)
      .onConflict((oc) =>
        oc.column('name').doUpdateSet({
          owner_team: values.owner_team,
          sensitivity: values.sensitivity,
          updated_at: values.updated_at,
        }),
      )
      .execute();
  }

  async listLabels(): Promise<ResourceLabels[]> {
    const rows = await this.db.selectFrom('resource_labels').selectAll().orderBy('name').execute();
    return rows.map((r) => ({
      name: r.name,
      ownerTeam: r.owner_team ?? undefined,
      sensitivity: r.sensitivity ?? undefined,
      updatedAt: n(r.updated_at),
    }));
  }
}
