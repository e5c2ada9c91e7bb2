import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../config/config';
import type { IdentityStore, UserRecord } from './identity-store';
import type { OidcFederation } from './oidc';
import { OidcRejected } from './oidc';
import { burnPasswordCheck, verifyPassword } from './passwords';
import type { RateLimiter } from './rate-limiter';
import { parseSecret, secretMatches } from './secrets';
import type { Principal } from './principal';
import { totpMatches } from './totp';

/** A refused login: `reason` is logged; clients only ever see a generic message (no account probing). */
export class LoginFailed extends Error {
  constructor(
    readonly reason: string,
    readonly publicMessage = 'invalid credentials',
  ) {
    super(reason);
    this.name = 'LoginFailed';
  }
}

/** The password was right; the account has MFA and no code came with it. */
export class MfaRequired extends Error {
  constructor() {
    super('this account uses MFA: enter the code from your authenticator app');
  }
}

export class LoginThrottled extends Error {
  constructor(readonly retryAfterSeconds: number) {
    super('too many failed logins from this address');
    this.name = 'LoginThrottled';
  }
}

/** Robots log in as `robot$<name>`, the convention Harbor made familiar; OIDC ID tokens as user `oidc`. */
export const ROBOT_PREFIX = 'robot$';
export const OIDC_USER = 'oidc';

/**
 * Checks credentials presented to the token endpoint: a user's password (refused once the user has MFA:
 * they use a personal access token), a personal access token, a robot secret, or an OIDC ID token.
 * Failures are slowed, counted per address (shared through the rate limiter) and per account (locking
 * it after `auth.lockout.attempts`).
 */
export class CredentialChecker {
  constructor(
    private readonly store: IdentityStore,
    private readonly oidc: OidcFederation,
    private readonly limiter: RateLimiter,
    private readonly config: Config,
    /** Delay added to every failure; tests shorten it. */
    private readonly failureDelayMs = 500,
  ) {}

  async login(username: string, password: string, sourceIp: string): Promise<Principal> {
    return this.slowingFailures(sourceIp, () => this.check(username, password));
  }

  /**
   * A person signing in to the web console: the password, and a current TOTP code when the account has
   * MFA (a right password without a code is `MfaRequired`, not a failure). The session is MFA-authenticated
   * only when a code was checked.
   */
  async personLogin(username: string, password: string, otp: string | undefined, sourceIp: string): Promise<Principal> {
    return this.slowingFailures(sourceIp, async () => {
      if (!username || !password) throw new LoginFailed('empty user name or password');
      const u = await this.passwordOnly(username, password);
      const mfa = u.totpEnabled && u.totpSecret !== undefined;
      if (mfa) {
        if (otp === undefined || otp.trim() === '') throw new MfaRequired();
        if (!(await totpMatches(u.totpSecret!, otp.trim()))) {
          await this.countFailure(username);
          throw new LoginFailed(`user ${username}: wrong or expired TOTP code`, 'wrong or expired code');
        }
      }
      return { id: `user:${u.name}`, kind: 'user', name: u.name, groups: u.groups, mfa };
    });
  }

  private async slowingFailures(sourceIp: string, attempt: () => Promise<Principal>): Promise<Principal> {
    try {
      return await attempt();
    } catch (err) {
      if (!(err instanceof LoginFailed)) throw err;
      const r = await this.limiter.take(`login-fail:${sourceIp}`, this.config.rateLimits.loginFailures);
      await sleep(this.failureDelayMs + Math.floor(Math.random() * 100));
      if (!r.allowed) throw new LoginThrottled(r.retryAfterSeconds);
      throw err;
    }
  }

  /** Refuses at once when this address has used up its failed attempts. */
  async assertNotThrottled(sourceIp: string): Promise<void> {
    const r = await this.limiter.take(`login-fail:${sourceIp}`, this.config.rateLimits.loginFailures, 0);
    if (!r.allowed) throw new LoginThrottled(r.retryAfterSeconds);
  }

  private async check(username: string, password: string): Promise<Principal> {
    if (!username || !password) throw new LoginFailed('empty user name or password');
    if (username === OIDC_USER) {
      try {
        return await this.oidc.verify(password);
      } catch (err) {
        if (err instanceof OidcRejected) throw new LoginFailed(`oidc: ${err.message}`);
        throw err;
      }
    }
    if (username.startsWith(ROBOT_PREFIX)) return this.robot(username.slice(ROBOT_PREFIX.length), password);
    const secret = parseSecret(password);
    if (secret?.kind === 'pat') return this.personalToken(username, secret.id, password);
    return this.password(username, password);
  }

  private async robot(name: string, password: string): Promise<Principal> {
    const r = await this.store.getRobot(name);
    if (!r || !secretMatches(password, r.secretHash))
      throw new LoginFailed(`robot ${name}: wrong secret or no such robot`);
    if (r.disabled) throw new LoginFailed(`robot ${name} is disabled`);
    if (r.expiresAt !== undefined && r.expiresAt <= Date.now()) throw new LoginFailed(`robot ${name} expired`);
    return { id: `robot:${name}`, kind: 'robot', name, groups: r.groups, mfa: false };
  }

  private async personalToken(username: string, id: string, password: string): Promise<Principal> {
    const c = await this.store.getCredential(id);
    if (!c || c.kind !== 'pat' || c.principal !== `user:${username}` || !secretMatches(password, c.secretHash))
      throw new LoginFailed(`personal access token ${id}: unknown or not ${username}'s`);
    if (c.revokedAt) throw new LoginFailed(`personal access token ${id} was revoked`);
    if (c.expiresAt !== undefined && c.expiresAt <= Date.now())
      throw new LoginFailed(`personal access token ${id} expired`);
    const u = await this.activeUser(username);
    void this.store.touchCredential(id).catch(() => undefined);
    return { id: `user:${username}`, kind: 'user', name: username, groups: u.groups, mfa: c.mfa, credential: id };
  }

  private async password(username: string, password: string): Promise<Principal> {
    const u = await this.store.getUser(username);
    if (!u) {
      await burnPasswordCheck(password);
      throw new LoginFailed(`user ${username} does not exist`);
    }
    if (!(await verifyPassword(u.passwordHash, password))) {
      const { lockedUntil } = await this.countFailure(username);
      throw new LoginFailed(
        `user ${username}: wrong password${lockedUntil > Date.now() ? '; account now locked' : ''}`,
      );
    }
    await this.activeUser(username);
    if (u.totpEnabled) {
      throw new LoginFailed(
        `user ${username} has MFA: password logins are refused`,
        'this account uses MFA: log in with a personal access token (POST /auth/tokens with your password and a TOTP code)',
      );
    }
    if (u.failedLogins > 0) await this.bookkeeping(() => this.store.clearLoginFailures(username), undefined);
    return { id: `user:${username}`, kind: 'user', name: username, groups: u.groups, mfa: false };
  }

  /**
   * Failure counts and lockouts are written to the catalog; a read-only region's catalog is a standby,
   * so there they are skipped (the per-address rate limit on failed logins still applies).
   */
  private async bookkeeping<T>(write: () => Promise<T>, otherwise: T): Promise<T> {
    return this.config.mode === 'read-only' ? otherwise : write();
  }

  /** The user, or a failure when disabled or locked. */
  async activeUser(username: string) {
    const u = await this.store.getUser(username);
    if (!u) throw new LoginFailed(`user ${username} does not exist`);
    if (u.disabled) throw new LoginFailed(`user ${username} is disabled`);
    if (u.lockedUntil > Date.now())
      throw new LoginFailed(
        `user ${username} is locked until ${new Date(u.lockedUntil).toISOString()}`,
        'account temporarily locked after repeated failures',
      );
    return u;
  }

  /** One more failed login of an account, towards its lockout (not recorded by a read-only region). */
  private countFailure(username: string): Promise<{ failures: number; lockedUntil: number }> {
    return this.bookkeeping(
      () =>
        this.store.recordLoginFailure(
          username,
          this.config.auth.lockout.attempts,
          this.config.auth.lockout.lockSeconds * 1000,
        ),
      { failures: 0, lockedUntil: 0 },
    );
  }

  /** Password and TOTP together: what issuing a personal access token or enrolling MFA needs. */
  async passwordOnly(username: string, password: string): Promise<UserRecord> {
    const u = await this.store.getUser(username);
    if (!u) {
      await burnPasswordCheck(password);
      throw new LoginFailed(`user ${username} does not exist`);
    }
    if (!(await verifyPassword(u.passwordHash, password))) {
      await this.countFailure(username);
      throw new LoginFailed(`user ${username}: wrong password`);
    }
    return this.activeUser(username);
  }
}
