/**
 * IdentityStore: accounts, credentials, federation rules, role bindings, token signing keys and the
 * resource labels policies read. It lives in the catalog database (SQLite or PostgreSQL), so every
 * replica sees the same identities. Secrets are never stored: passwords as argon2id hashes, robot
 * secrets and tokens as sha256 of high-entropy random values. Every implementation passes
 * test/contracts/identity-store.contract.ts.
 */
export interface UserRecord {
  name: string;
  passwordHash: string;
  groups: string[];
  disabled: boolean;
  /** Base32 TOTP secret; enabled only once the user has confirmed a code. */
  totpSecret?: string;
  totpEnabled: boolean;
  failedLogins: number;
  /** Milliseconds since the epoch; 0 when not locked. */
  lockedUntil: number;
  createdAt: number;
  updatedAt: number;
}

export interface RobotRecord {
  name: string;
  secretHash: string;
  groups: string[];
  disabled: boolean;
  expiresAt?: number;
  description: string;
  createdAt: number;
  rotatedAt: number;
}

export type CredentialKind = 'pat' | 'refresh';

/** A personal access token or an OAuth2 refresh token. */
export interface CredentialRecord {
  id: string;
  kind: CredentialKind;
  /** `user:<name>`, `robot:<name>` or `oidc:<rule>`. */
  principal: string;
  secretHash: string;
  label: string;
  /** Obtained with a second factor: tokens minted from it carry mfa=true. */
  mfa: boolean;
  createdAt: number;
  expiresAt?: number;
  revokedAt?: number;
  lastUsedAt?: number;
}

export interface OidcRule {
  name: string;
  /** The `iss` the ID token must carry; its JWKS is found through OpenID discovery. */
  issuer: string;
  audience: string;
  /** Claim name → glob pattern (`*` matches any run of characters) every one of which must match. */
  claims: Record<string, string>;
  groups: string[];
  description: string;
  disabled: boolean;
  createdAt: number;
}

export interface RoleBinding {
  /** `user:<name>`, `robot:<name>`, `oidc:<rule>`, `group:<name>` or `anonymous`. */
  principal: string;
  /** The policy template's id, e.g. `publisher`. */
  role: string;
  /** `*` (the whole registry), a namespace `ml/`, or a repository `ml/bert`. */
  scope: string;
  createdAt: number;
}

export interface SigningKeyRecord {
  kid: string;
  alg: string;
  privatePem: string;
  publicJwk: Record<string, unknown>;
  createdAt: number;
  /** When it stopped signing; it still verifies until the tokens it signed have expired. */
  retiredAt?: number;
}

export interface ResourceLabels {
  /** A namespace (`ml/`) or a repository (`ml/bert`). */
  name: string;
  ownerTeam?: string;
  sensitivity?: string;
  updatedAt: number;
}

export class IdentityConflict extends Error {
  constructor(what: string) {
    super(`${what} already exists`);
    this.name = 'IdentityConflict';
  }
}

/** User and robot names: lower-case letters, digits, `.`, `_`, `-`, as `cairn admin` has always required. */
export const ACCOUNT_NAME = /^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$/;

export interface IdentityStore {
  createUser(
    user: Omit<UserRecord, 'failedLogins' | 'lockedUntil' | 'createdAt' | 'updatedAt' | 'totpEnabled'>,
  ): Promise<void>;
  getUser(name: string): Promise<UserRecord | undefined>;
  listUsers(): Promise<UserRecord[]>;
  updateUser(
    name: string,
    patch: Partial<Pick<UserRecord, 'passwordHash' | 'groups' | 'disabled' | 'totpSecret' | 'totpEnabled'>>,
  ): Promise<boolean>;
  /** Counts a failed login; locks the account for lockMs once `lockAfter` failures are reached. */
  recordLoginFailure(
    name: string,
    lockAfter: number,
    lockMs: number,
  ): Promise<{ failures: number; lockedUntil: number }>;
  clearLoginFailures(name: string): Promise<void>;

  createRobot(robot: Omit<RobotRecord, 'createdAt' | 'rotatedAt'>): Promise<void>;
  getRobot(name: string): Promise<RobotRecord | undefined>;
  listRobots(): Promise<RobotRecord[]>;
  updateRobot(
    name: string,
    patch: Partial<Pick<RobotRecord, 'secretHash' | 'groups' | 'disabled' | 'expiresAt'>>,
  ): Promise<boolean>;
  deleteRobot(name: string): Promise<boolean>;

  createCredential(c: Omit<CredentialRecord, 'createdAt'>): Promise<void>;
  getCredential(id: string): Promise<CredentialRecord | undefined>;
  listCredentials(principal: string): Promise<CredentialRecord[]>;
  revokeCredential(id: string): Promise<boolean>;
  /** Revokes every credential of a principal (a disabled user, a rotated robot). */
  revokeCredentialsOf(principal: string): Promise<number>;
  touchCredential(id: string): Promise<void>;

  putOidcRule(rule: Omit<OidcRule, 'createdAt'>): Promise<void>;
  listOidcRules(): Promise<OidcRule[]>;
  deleteOidcRule(name: string): Promise<boolean>;

  bindRole(binding: Omit<RoleBinding, 'createdAt'>): Promise<void>;
  unbindRole(binding: Omit<RoleBinding, 'createdAt'>): Promise<boolean>;
  listRoleBindings(): Promise<RoleBinding[]>;

  addSigningKey(key: Omit<SigningKeyRecord, 'retiredAt'>): Promise<void>;
  listSigningKeys(): Promise<SigningKeyRecord[]>;
  /** Marks every other active key retired at `at`. */
  retireSigningKeysExcept(kid: string, at: number): Promise<void>;
  deleteSigningKey(kid: string): Promise<void>;

  setLabels(labels: Omit<ResourceLabels, 'updatedAt'>): Promise<void>;
  listLabels(): Promise<ResourceLabels[]>;
}
