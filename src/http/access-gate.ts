import type { IncomingMessage } from 'node:http';
import type { Config } from '../config/config';
import type { AuthRuntime } from './auth-runtime';
import { ANONYMOUS, type AccessEntry, type Action, type Principal } from '../auth/principal';
import { InvalidToken, type TokenClaims } from '../auth/tokens';
import type { AuthzResource } from '../policy/authorizer';
import { OciError } from '../oci/errors';
import type { AuthState } from './auth-state';
import type { RequestContext } from './context';
import type { Logger } from '../observability/logger';
import type { Metrics } from '../observability/metrics';
import { sourceAddress } from './source-address';
import type { AuditLog } from '../audit/audit-log';

/** What a /v2 route needs before its handler runs. */
export type Requirement =
  | { kind: 'base' }
  | { kind: 'catalog' }
  /** Public material anyone may fetch without a token (verification keys). */
  | { kind: 'public' }
  /** A registry-wide action (administration, reading the audit log): a token whose principal policy allows it. */
  | { kind: 'registry'; action: Action }
  | {
      kind: 'repository';
      name: string;
      actions: Action[];
      upload?: boolean;
      browse?: boolean;
      targetStage?: string;
      mountFrom?: string;
    };

/**
 * The scope a challenge names, as CNCF Distribution words it, so that a client that takes its token
 * scope from the challenge (@sigstore/oci, containerd) gets a token for the whole operation: a push
 * also reads (it HEADs blobs and GETs the manifest it pushed), and a mount reads its source. Cairn's
 * `tag` rides on `push` in tokens.
 */
export function challengeScope(need: Requirement): string | undefined {
  if (need.kind === 'catalog') return 'registry:catalog:*';
  if (need.kind !== 'repository') return undefined;
  const actions = new Set<string>(need.actions.map((a) => (a === 'tag' ? 'push' : a)));
  if (actions.has('push')) actions.add('pull');
  const rank = (a: string) => ['pull', 'push', 'delete'].indexOf(a) >>> 0;
  const own = `repository:${need.name}:${[...actions].sort((a, b) => rank(a) - rank(b)).join(',')}`;
  return need.mountFrom && need.mountFrom !== need.name ? `${own} repository:${need.mountFrom}:pull` : own;
}

const OPEN: AuthState = {
  principal: { ...ANONYMOUS, id: 'auth-disabled', name: 'auth-disabled' },
  expired: false,
  can: () => true,
};

/** The public URL of the token endpoint, for challenges. */
export function realmOf(req: IncomingMessage, config: Config): string {
  if (config.auth.realm) return config.auth.realm;
  const forwarded = config.auth.trustProxy ? req.headers['x-forwarded-proto'] : undefined;
  const proto =
    typeof forwarded === 'string'
      ? forwarded.split(',')[0]!.trim()
      : (req.socket as { encrypted?: boolean }).encrypted
        ? 'https'
        : 'http';
  const host = req.headers.host && /^[A-Za-z0-9.:[\]-]+$/.test(req.headers.host) ? req.headers.host : 'localhost';
  return `${proto}://${host}/token`;
}

/**
 * Whether a token's scope covers an action. Docker clients ask for `pull`, `push`, `delete` (or `*`);
 * Cairn's finer `tag` rides on `push` (a client pushing a tagged manifest asks for pull,push), and
 * policy still decides `tag` on its own at request time.
 */
function hasAccess(access: AccessEntry[], type: AccessEntry['type'], name: string, action: string): boolean {
  const scoped = action === 'tag' ? 'push' : action;
  return access.some(
    (a) => a.type === type && a.name === name && (a.actions.includes(scoped) || a.actions.includes('*')),
  );
}

/**
 * The one access check, in front of every /v2 request, Cairn's API, administration and the audit log:
 * rate limits, the bearer token (signature, expiry, audience, revocation of its principal and credential),
 * the token's scope, and the policy decision, each logged and counted. Denials answer 401 with a challenge when credentials could help, 403 DENIED when not.
 */
export class AccessGate {
  constructor(
    private readonly auth: AuthRuntime | undefined,
    private readonly config: Config,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
    private readonly audit?: AuditLog,
  ) {}

  private challenge(req: IncomingMessage, message: string, scope?: string, error?: string, detail?: unknown): OciError {
    let header = `Bearer realm="${realmOf(req, this.config)}",service="${this.config.auth.service}"`;
    if (scope) header += `,scope="${scope}"`;
    if (error) header += `,error="${error}"`;
    return new OciError('UNAUTHORIZED', message, detail, { headers: { 'WWW-Authenticate': header } });
  }

  async enter(req: IncomingMessage, ctx: RequestContext, need: Requirement): Promise<void> {
    if (!this.auth) {
      ctx.auth = OPEN;
      return;
    }
    const a = this.auth;
    const ip = sourceAddress(req, this.config.auth.trustProxy);
    await this.limit(`addr:${ip}`, this.config.rateLimits.perAddress, 'address');

    if (need.kind === 'public') {
      ctx.auth = { principal: ANONYMOUS, expired: false, can: () => false };
      return;
    }
    const scope = challengeScope(need);
    let claims: TokenClaims | undefined;
    const header = req.headers.authorization;
    if (header !== undefined) {
      const m = /^Bearer\s+([A-Za-z0-9._~+/=-]+)\s*$/i.exec(header);
      if (!m) throw this.challenge(req, 'send a bearer token from the token endpoint', scope, 'invalid_request');
      try {
        claims = await a.tokens.verify(
          m[1]!,
          need.kind === 'repository' && need.upload
            ? { acceptExpiredForMs: this.config.auth.uploadBindingSeconds * 1000 }
            : {},
        );
      } catch (err) {
        if (!(err instanceof InvalidToken)) throw err;
        this.metrics.authentications.labels('bearer', 'rejected').inc();
        this.logger.warn(
          { event: 'authn', reqId: ctx.id, ip, result: 'rejected', reason: err.message },
          'token refused',
        );
        throw this.challenge(req, err.message, scope, 'invalid_token');
      }
      if (!(await a.revocation.isActive(claims.principal))) {
        this.metrics.authentications.labels('bearer', 'revoked').inc();
        this.logger.warn(
          { event: 'authn', reqId: ctx.id, ip, principal: claims.principal.id, result: 'revoked' },
          'token of a disabled principal or revoked credential',
        );
        throw this.challenge(req, 'the credentials behind this token were disabled or revoked', scope, 'invalid_token');
      }
    }
    const principal: Principal = claims?.principal ?? ANONYMOUS;
    const expired = claims !== undefined && claims.expiresAt <= Date.now();
    if (principal.kind !== 'anonymous')
      await this.limit(`id:${principal.id}`, this.config.rateLimits.perIdentity, 'identity');

    const decide = (action: Action, resource: AuthzResource, targetStage?: string): boolean => {
      const d = a.authorizer.authorize({
        principal,
        action,
        resource,
        context: { sourceIp: ip, ...(targetStage ? { targetStage } : {}) },
      });
      const name = resource.type === 'registry' ? 'registry' : resource.name;
      (ctx.decisions ??= []).push({ action, resource: name, allowed: d.allowed, policies: d.policies });
      this.metrics.authorizations.labels(action, d.allowed ? 'allow' : 'deny').inc();
      if (!d.allowed) {
        this.logger.warn(
          {
            event: 'authz',
            reqId: ctx.id,
            ip,
            principal: principal.id,
            action,
            resource: name,
            decision: 'deny',
            policies: d.policies,
            errors: d.errors.length ? d.errors : undefined,
          },
          'access denied',
        );
        const ua = req.headers['user-agent'];
        this.audit?.record({
          type: 'access.denied',
          identity: principal.id,
          source: ip,
          ...(typeof ua === 'string' ? { userAgent: ua.slice(0, 200) } : {}),
          action,
          ...(resource.type === 'registry' ? {} : { repository: name }),
          decision: 'deny',
          requestId: ctx.id,
          detail: { policies: d.policies.join(',') },
        });
      }
      return d.allowed;
    };

    if (need.kind === 'base') {
      if (!claims) throw this.challenge(req, 'authentication required');
    } else if (need.kind === 'registry') {
      if (!claims) throw this.challenge(req, 'a bearer token is required');
      if (!decide(need.action, { type: 'registry' })) {
        const why =
          need.action === 'admin' && !principal.mfa
            ? 'administration requires a session authenticated with MFA'
            : `${principal.id} may not ${need.action} on this registry`;
        throw new OciError('DENIED', why, { action: need.action, policies: ctx.decisions?.at(-1)?.policies });
      }
    } else if (need.kind === 'catalog') {
      if (!claims || !hasAccess(claims.access, 'registry', 'catalog', '*'))
        throw this.challenge(
          req,
          'listing repositories needs a token for registry:catalog:*',
          scope,
          claims ? 'insufficient_scope' : undefined,
        );
    } else {
      for (const action of need.actions) {
        if (
          !decide(action, { type: 'repository', name: need.name }, action === 'pull' ? undefined : need.targetStage)
        ) {
          if (!claims) throw this.challenge(req, 'authentication required', scope);
          throw new OciError('DENIED', `${principal.id} may not ${action} ${need.name}`, {
            action,
            repository: need.name,
          });
        }
        // A token is a ceiling: what policy allows but the token was not issued for needs a new token.
        if (claims && !hasAccess(claims.access, 'repository', need.name, action)) {
          throw this.challenge(req, `the token does not grant ${action} on ${need.name}`, scope, 'insufficient_scope');
        }
      }
    }
    const cache = new Map<string, boolean>();
    ctx.auth = {
      principal,
      expired,
      can: (action, repository) => {
        const k = `${action} ${repository}`;
        // Listings (the catalog, lineage graphs) show what policy lets the principal see in other
        // repositories; the token's scopes bound only the repository the request is about.
        const listing =
          need.kind === 'catalog' || (need.kind === 'repository' && need.browse === true && repository !== need.name);
        if (!cache.has(k))
          cache.set(
            k,
            decide(action, { type: 'repository', name: repository }) &&
              (!claims || listing || hasAccess(claims.access, 'repository', repository, action)),
          );
        return cache.get(k)!;
      },
    };
  }

  private async limit(key: string, rule: { perSecond: number; burst: number }, label: string): Promise<void> {
    const r = await this.auth!.limiter.take(key, rule);
    if (!r.allowed) {
      this.metrics.rateLimited.labels(label).inc();
      throw new OciError(
        'TOOMANYREQUESTS',
        `rate limit exceeded (${label})`,
        { retryAfterSeconds: r.retryAfterSeconds },
        { headers: { 'Retry-After': String(r.retryAfterSeconds) } },
      );
    }
  }
}
