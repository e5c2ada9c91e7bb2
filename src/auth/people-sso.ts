import { createHash, randomBytes } from 'node:crypto';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';
import type { Config } from '../config/config';
import { readSecret } from '../config/secrets';
import { ACCOUNT_NAME, IdentityConflict, type IdentityStore } from './identity-store';
import { LoginFailed } from './login';
import type { Principal } from './principal';

type SsoConfig = NonNullable<Config['auth']['sso']>;

/** What the browser keeps between sending the person to the provider and their return (an HttpOnly cookie). */
export interface SsoTransaction {
  state: string;
  nonce: string;
  verifier: string;
}

interface Discovery {
  authorization_endpoint: string;
  token_endpoint: string;
  jwks_uri: string;
  issuer: string;
}

/** Accounts made by single sign-on carry this instead of a password hash: no password ever logs them in. */
export const SSO_PASSWORD_HASH = 'sso-account:no-password';

const b64url = (b: Buffer) => b.toString('base64url');

/**
 * Single sign-on for people (the web console): OpenID Connect authorization code flow with PKCE (S256),
 * state and nonce. The provider is the one configured, never one a request names; its endpoints come from
 * discovery and its keys from its JWKS (cached by jose). The ID token's user name becomes a local account
 * on first sign-in, so that disabling it, role bindings and the audit log work as for any user; a local
 * account of the same name made otherwise (with a password) is never taken over.
 */
export class PeopleSso {
  private discovery?: { at: number; doc: Discovery; jwks: ReturnType<typeof createRemoteJWKSet> };

  constructor(
    private readonly config: SsoConfig,
    private readonly store: IdentityStore,
    private readonly allowHttp: boolean,
  ) {
    if (!allowHttp && !config.issuer.startsWith('https://'))
      throw new Error('auth.sso.issuer must be https (auth.allowHttpIssuers is for tests and labs)');
  }

  get displayName(): string {
    return this.config.displayName;
  }

  private async endpoints() {
    if (this.discovery && Date.now() - this.discovery.at < 3600_000) return this.discovery;
    const url = `${this.config.issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
    const r = await fetch(url, { signal: AbortSignal.timeout(10_000) });
    if (!r.ok) throw new Error(`OpenID discovery at ${url} answered ${r.status}`);
    const doc = (await r.json()) as Discovery;
    if (doc.issuer !== this.config.issuer) throw new Error(`the provider says its issuer is ${doc.issuer}`);
    for (const k of ['authorization_endpoint', 'token_endpoint', 'jwks_uri'] as const) {
      const u = new URL(doc[k]);
      if (u.protocol !== 'https:' && !(this.allowHttp && u.protocol === 'http:'))
        throw new Error(`the provider's ${k} is not https`);
    }
    this.discovery = { at: Date.now(), doc, jwks: createRemoteJWKSet(new URL(doc.jwks_uri)) };
    return this.discovery;
  }

  /** Where to send the browser, and what it must bring back. */
  async begin(redirectUri: string): Promise<{ url: string; transaction: SsoTransaction }> {
    const { doc } = await this.endpoints();
    const transaction = {
      state: b64url(randomBytes(24)),
      nonce: b64url(randomBytes(24)),
      verifier: b64url(randomBytes(48)),
    };
    const url = new URL(doc.authorization_endpoint);
    url.search = new URLSearchParams({
      response_type: 'code',
      client_id: this.config.clientId,
      redirect_uri: redirectUri,
      scope: [...new Set(['openid', ...this.config.scopes])].join(' '),
      state: transaction.state,
      nonce: transaction.nonce,
      code_challenge: b64url(createHash('sha256').update(transaction.verifier).digest()),
      code_challenge_method: 'S256',
    }).toString();
    return { url: url.toString(), transaction };
  }

  /** Exchanges the code (with the PKCE verifier) and checks the ID token; the person as a principal. */
  async finish(code: string, state: string, t: SsoTransaction, redirectUri: string): Promise<Principal> {
    if (!code || state !== t.state)
      throw new LoginFailed('sso: state does not match this browser’s sign-in', 'single sign-on failed: start again');
    const { doc, jwks } = await this.endpoints();
    const secret = readSecret(
      { passwordFile: this.config.clientSecretFile, passwordEnv: this.config.clientSecretEnv },
      'auth.sso client secret',
    );
    const r = await fetch(doc.token_endpoint, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/x-www-form-urlencoded',
        ...(secret
          ? {
              Authorization: `Basic ${Buffer.from(`${encodeURIComponent(this.config.clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`,
            }
          : {}),
      },
      body: new URLSearchParams({
        grant_type: 'authorization_code',
        code,
        redirect_uri: redirectUri,
        client_id: this.config.clientId,
        code_verifier: t.verifier,
      }).toString(),
      signal: AbortSignal.timeout(10_000),
    });
    if (!r.ok)
      throw new LoginFailed(
        `sso: the token endpoint answered ${r.status}`,
        'single sign-on failed: the provider refused the code',
      );
    const idToken = ((await r.json()) as { id_token?: unknown }).id_token;
    if (typeof idToken !== 'string') throw new LoginFailed('sso: no id_token in the answer', 'single sign-on failed');
    let claims: JWTPayload;
    try {
      claims = (await jwtVerify(idToken, jwks, { issuer: this.config.issuer, audience: this.config.clientId })).payload;
    } catch (err) {
      throw new LoginFailed(`sso: ID token refused: ${(err as Error).message}`, 'single sign-on failed');
    }
    if (claims.nonce !== t.nonce) throw new LoginFailed('sso: nonce does not match', 'single sign-on failed');
    return this.person(claims);
  }

  private async person(claims: JWTPayload): Promise<Principal> {
    const name = claims[this.config.usernameClaim];
    if (typeof name !== 'string' || !ACCOUNT_NAME.test(name))
      throw new LoginFailed(
        `sso: claim ${this.config.usernameClaim} is not a user name: ${JSON.stringify(name)?.slice(0, 100)}`,
        `single sign-on failed: the provider's ${this.config.usernameClaim} is not a valid user name`,
      );
    const raw = claims[this.config.groupsClaim];
    const groups = Array.isArray(raw) ? raw.filter((g): g is string => typeof g === 'string' && g.length <= 100) : [];
    const amr = Array.isArray(claims.amr) ? claims.amr : [];
    const mfa = amr.some((m) => typeof m === 'string' && this.config.mfaAmr.includes(m));
    const local = await this.store.getUser(name);
    if (!local) {
      try {
        await this.store.createUser({ name, passwordHash: SSO_PASSWORD_HASH, groups, disabled: false });
      } catch (err) {
        // Two first sign-ins at once: the other made the account.
        if (!(err instanceof IdentityConflict)) throw err;
      }
    } else if (local.passwordHash !== SSO_PASSWORD_HASH) {
      throw new LoginFailed(
        `sso: ${name} is a local account with a password`,
        `single sign-on failed: ${name} is a local account; sign in with its password`,
      );
    } else if (local.disabled) {
      throw new LoginFailed(`sso: user ${name} is disabled`, 'single sign-on failed: this account is disabled');
    } else if (JSON.stringify(local.groups) !== JSON.stringify(groups)) {
      // The provider is where groups are managed: each sign-in brings them up to date.
      await this.store.updateUser(name, { groups });
    }
    return { id: `user:${name}`, kind: 'user', name, groups, mfa };
  }
}
