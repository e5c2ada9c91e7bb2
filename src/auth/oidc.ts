import { createRemoteJWKSet, decodeJwt, jwtVerify, type JWTPayload } from 'jose';
import type { IdentityStore, OidcRule } from './identity-store';
import type { Principal } from './principal';

export class OidcRejected extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'OidcRejected';
  }
}

/** `*` matches any run of characters, everything else literally. */
export function globMatches(pattern: string, value: string): boolean {
  const re = new RegExp(
    `^${pattern
      .split('*')
      .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
    's',
  );
  return re.test(value);
}

/** The first rule (by name) whose issuer, audience and claim patterns all match. */
export function matchRule(rules: OidcRule[], payload: JWTPayload): OidcRule | undefined {
  const aud = Array.isArray(payload.aud) ? payload.aud : payload.aud ? [payload.aud] : [];
  return rules.find(
    (r) =>
      !r.disabled &&
      r.issuer === payload.iss &&
      aud.includes(r.audience) &&
      Object.entries(r.claims).every(([claim, pattern]) => {
        const v = payload[claim];
        return (
          (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') && globMatches(pattern, String(v))
        );
      }),
  );
}

/**
 * OIDC federation: a CI job (GitHub Actions, GitLab) or a Kubernetes service account presents its ID
 * token instead of a password. Only issuers named by a trust rule are ever contacted (no request to an
 * address an attacker chose); their keys come from OpenID discovery and are cached by jose.
 */
export class OidcFederation {
  private readonly jwks = new Map<string, { at: number; keys: ReturnType<typeof createRemoteJWKSet> }>();

  constructor(
    private readonly store: IdentityStore,
    private readonly options: { allowHttpIssuers: boolean },
  ) {}

  private async keysFor(issuer: string): Promise<ReturnType<typeof createRemoteJWKSet>> {
    const cached = this.jwks.get(issuer);
    if (cached && Date.now() - cached.at < 3_600_000) return cached.keys;
    const url = new URL(`${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`);
    if (url.protocol !== 'https:' && !this.options.allowHttpIssuers)
      throw new OidcRejected(`issuer ${issuer} is not https`);
    let jwksUri: string;
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(5000), redirect: 'error' });
      if (!r.ok) throw new Error(`discovery answered ${r.status}`);
      const doc = (await r.json()) as { issuer?: string; jwks_uri?: string };
      if (doc.issuer !== issuer || typeof doc.jwks_uri !== 'string')
        throw new Error('discovery document does not match the issuer');
      jwksUri = doc.jwks_uri;
    } catch (err) {
      throw new OidcRejected(`cannot read the keys of ${issuer}: ${(err as Error).message}`);
    }
    const keys = createRemoteJWKSet(new URL(jwksUri), { timeoutDuration: 5000, cooldownDuration: 30_000 });
    this.jwks.set(issuer, { at: Date.now(), keys });
    return keys;
  }

  async verify(idToken: string): Promise<Principal> {
    let unverified: JWTPayload;
    try {
      unverified = decodeJwt(idToken);
    } catch {
      throw new OidcRejected('not a JWT');
    }
    const rules = (await this.store.listOidcRules()).filter((r) => r.issuer === unverified.iss && !r.disabled);
    if (rules.length === 0) throw new OidcRejected(`no trust rule for issuer ${String(unverified.iss)}`);
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(idToken, await this.keysFor(rules[0]!.issuer), {
        issuer: rules[0]!.issuer,
        algorithms: ['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'PS256', 'EdDSA'],
        requiredClaims: ['exp', 'iat', 'sub'],
        clockTolerance: 30,
      }));
    } catch (err) {
      if (err instanceof OidcRejected) throw err;
      throw new OidcRejected(`ID token does not verify: ${(err as Error).message}`);
    }
    const rule = matchRule(rules, payload);
    if (!rule) throw new OidcRejected("no trust rule matches the token's audience and claims");
    return {
      id: `oidc:${rule.name}`,
      kind: 'federated',
      name: rule.name,
      groups: rule.groups,
      mfa: false,
      federated: { issuer: String(payload.iss), subject: String(payload.sub), claims: ciClaims(payload) },
    };
  }
}

/**
 * The CI claims kept with a federated identity (GitHub Actions, GitLab CI): which repository, commit,
 * workflow and run pushed an artifact. They ride in the registry token, so the artifact's provenance
 * is filled in without the pipeline having to state it.
 */
export const CI_CLAIMS = [
  'repository',
  'repository_owner',
  'sha',
  'ref',
  'workflow',
  'workflow_ref',
  'job_workflow_ref',
  'run_id',
  'run_attempt',
  'actor',
  'event_name',
  'project_path',
  'pipeline_id',
  'pipeline_source',
  'ci_config_ref_uri',
  'job_id',
  'user_login',
] as const;

export function ciClaims(payload: JWTPayload): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of CI_CLAIMS) {
    const v = payload[k];
    if ((typeof v === 'string' || typeof v === 'number') && String(v).length <= 512) out[k] = String(v);
  }
  return out;
}
