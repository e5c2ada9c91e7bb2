import { randomUUID } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, jwtVerify, SignJWT, type JWTPayload } from 'jose';
import type { ExternalTokenSigner, KeyRing } from './signing-keys';
import type { AccessEntry, Principal } from './principal';

/** What a registry token says, once verified. */
export interface TokenClaims {
  principal: Principal;
  access: AccessEntry[];
  issuedAt: number;
  expiresAt: number;
  id: string;
}

export class InvalidToken extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'InvalidToken';
  }
}

interface CairnPayload extends JWTPayload {
  access?: AccessEntry[];
  kind?: Principal['kind'];
  grp?: string[];
  mfa?: boolean;
  crd?: string;
  fed?: { iss: string; sub: string; ci?: Record<string, string> };
}

/** A compact JWS whose signature an HSM makes: jose needs the private key in memory, which an HSM never gives. */
function externallySigned(signer: ExternalTokenSigner, header: object, claims: object): string {
  const input = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
  return `${input}.${signer.sign(Buffer.from(input)).toString('base64url')}`;
}

/**
 * Registry tokens: short-lived ES256 JWTs (jose) in the shape Docker's token specification gives
 * (`access` claims), carrying the principal and only the access policy granted for the scopes asked.
 * Verification pins the algorithm (no `none`, no HMAC confusion), the issuer and the audience.
 */
export class TokenService {
  /**
   * Tokens already verified, until they expire: a client sends the same token with every request, and
   * an ECDSA verification costs more than the whole manifest GET it guards. Bounded; cleared when full.
   */
  private readonly verified = new Map<string, TokenClaims>();

  constructor(
    private readonly keys: KeyRing,
    private readonly issuer: string,
    private readonly audience: string,
    private readonly ttlSeconds: number,
  ) {}

  get ttl(): number {
    return this.ttlSeconds;
  }

  async issue(principal: Principal, access: AccessEntry[]): Promise<{ token: string; claims: TokenClaims }> {
    const signing = await this.keys.signingKey();
    const kid = signing.kid;
    const now = Math.floor(Date.now() / 1000);
    const id = randomUUID();
    const payload: CairnPayload = { access, kind: principal.kind, grp: principal.groups, mfa: principal.mfa };
    if (principal.credential) payload.crd = principal.credential;
    if (principal.federated) {
      const ci = principal.federated.claims;
      payload.fed = {
        iss: principal.federated.issuer,
        sub: principal.federated.subject,
        ...(ci && Object.keys(ci).length ? { ci } : {}),
      };
    }
    const token =
      'external' in signing
        ? externallySigned(
            signing.external,
            { alg: 'ES256', kid, typ: 'JWT' },
            {
              ...payload,
              iss: this.issuer,
              aud: this.audience,
              sub: principal.id,
              iat: now,
              nbf: now - 5,
              exp: now + this.ttlSeconds,
              jti: id,
            },
          )
        : await new SignJWT(payload)
            .setProtectedHeader({ alg: 'ES256', kid, typ: 'JWT' })
            .setIssuer(this.issuer)
            .setAudience(this.audience)
            .setSubject(principal.id)
            .setIssuedAt(now)
            .setNotBefore(now - 5)
            .setExpirationTime(now + this.ttlSeconds)
            .setJti(id)
            .sign(signing.key);
    return {
      token,
      claims: { principal, access, issuedAt: now * 1000, expiresAt: (now + this.ttlSeconds) * 1000, id },
    };
  }

  /**
   * Verifies a token. With `acceptExpiredForMs`, a token whose signature and claims are valid but whose
   * expiry passed less than that long ago is accepted (an upload bound to the token that opened it).
   */
  async verify(token: string, options: { acceptExpiredForMs?: number } = {}): Promise<TokenClaims> {
    const hit = this.verified.get(token);
    if (hit && hit.expiresAt > Date.now() + 5000) return hit;
    const claims = await this.verifyNow(token, options);
    if (claims.expiresAt > Date.now() + 5000) {
      if (this.verified.size >= 10_000) this.verified.clear();
      this.verified.set(token, claims);
    }
    return claims;
  }

  private async verifyNow(token: string, options: { acceptExpiredForMs?: number }): Promise<TokenClaims> {
    let kid: string | undefined;
    let exp: number | undefined;
    try {
      const header = decodeProtectedHeader(token);
      if (header.alg !== 'ES256') throw new InvalidToken(`algorithm ${String(header.alg)} is not accepted`);
      kid = header.kid;
      exp = decodeJwt(token).exp;
    } catch (err) {
      if (err instanceof InvalidToken) throw err;
      throw new InvalidToken('malformed token');
    }
    if (!kid) throw new InvalidToken('token has no key id');
    const key = await this.keys.verificationKey(kid);
    if (!key) throw new InvalidToken('token signed by an unknown or retired key');
    const now = Date.now();
    let currentDate: Date | undefined;
    if (options.acceptExpiredForMs && typeof exp === 'number' && exp * 1000 <= now) {
      if (now - exp * 1000 > options.acceptExpiredForMs) throw new InvalidToken('token expired');
      // Check everything else as of the moment before it expired.
      currentDate = new Date(exp * 1000 - 1000);
    }
    let payload: CairnPayload;
    try {
      ({ payload } = await jwtVerify<CairnPayload>(token, key, {
        algorithms: ['ES256'],
        issuer: this.issuer,
        audience: this.audience,
        currentDate,
        clockTolerance: 5,
        requiredClaims: ['exp', 'sub', 'iat', 'jti'],
      }));
    } catch (err) {
      const code = (err as { code?: string }).code;
      throw new InvalidToken(
        code === 'ERR_JWT_EXPIRED'
          ? 'token expired'
          : code === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED'
            ? 'token signature does not verify'
            : `invalid token: ${(err as Error).message}`,
      );
    }
    const sub = payload.sub!;
    const kind = payload.kind ?? 'anonymous';
    const principal: Principal = {
      id: sub,
      kind,
      name: sub.includes(':') ? sub.slice(sub.indexOf(':') + 1) : sub,
      groups: Array.isArray(payload.grp) ? payload.grp.map(String) : [],
      mfa: payload.mfa === true,
      credential: typeof payload.crd === 'string' ? payload.crd : undefined,
      federated: payload.fed
        ? {
            issuer: String(payload.fed.iss),
            subject: String(payload.fed.sub),
            ...(payload.fed.ci && typeof payload.fed.ci === 'object'
              ? { claims: Object.fromEntries(Object.entries(payload.fed.ci).map(([k, v]) => [k, String(v)])) }
              : {}),
          }
        : undefined,
    };
    return {
      principal,
      access: Array.isArray(payload.access) ? payload.access : [],
      issuedAt: payload.iat! * 1000,
      expiresAt: payload.exp! * 1000,
      id: payload.jti!,
    };
  }
}
