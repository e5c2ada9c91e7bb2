import type { IncomingMessage } from 'node:http';
import express from 'express';
import type { Config } from '../config/config';
import type { AuthRuntime } from './auth-runtime';
import { LoginFailed, LoginThrottled, OIDC_USER, ROBOT_PREFIX } from '../auth/login';
import { ANONYMOUS, REPOSITORY_ACTIONS, type AccessEntry, type Action, type Principal } from '../auth/principal';
import { issueSecret, parseSecret, secretMatches } from '../auth/secrets';
import { OciError } from '../oci/errors';
import { isRepositoryName } from '../oci/names';
import { basicCredentials } from './basic-auth';
import type { Logger } from '../observability/logger';
import type { Metrics } from '../observability/metrics';
import { sourceAddress } from './source-address';
import type { AuditLog } from '../audit/audit-log';

const unauthorized = (message: string) =>
  new OciError('UNAUTHORIZED', message, undefined, { headers: { 'WWW-Authenticate': 'Basic realm="cairn"' } });

/** `repository:ml/bert:pull,push` → the entry; anything else this registry does not grant is dropped. */
export function parseScope(scope: string): { type: string; name: string; actions: string[] } | undefined {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first < 1 || last === first) return undefined;
  return {
    type: scope.slice(0, first),
    name: scope.slice(first + 1, last),
    actions: scope
      .slice(last + 1)
      .split(',')
      .filter(Boolean),
  };
}

function methodOf(username: string, password: string): string {
  if (username === OIDC_USER) return 'oidc';
  if (username.startsWith(ROBOT_PREFIX)) return 'robot';
  return parseSecret(password)?.kind === 'pat' ? 'pat' : 'password';
}

/**
 * The token endpoint of the Docker / OCI token flow: `GET /token` with Basic credentials (or none, for
 * what anonymous callers may do) and `POST /token` with the OAuth2 password and refresh_token grants.
 * The token carries only the actions policy grants for the scopes asked; refresh tokens are issued on
 * `offline_token=true` / `access_type=offline`.
 */
export function tokenEndpoint(
  auth: AuthRuntime,
  config: Config,
  metrics: Metrics,
  logger: Logger,
  audit?: AuditLog,
): express.Router {
  const router = express.Router();

  const grant = (principal: Principal, scopes: string[], ip: string): AccessEntry[] => {
    const out: AccessEntry[] = [];
    for (const raw of scopes.slice(0, 64)) {
      const scope = parseScope(raw);
      if (!scope) throw new OciError('PARAMETER_INVALID', 'malformed scope', { scope: raw.slice(0, 200) });
      if (scope.type === 'registry' && scope.name === 'catalog') {
        if (principal.kind !== 'anonymous') out.push({ type: 'registry', name: 'catalog', actions: ['*'] });
        continue;
      }
      if (scope.type !== 'repository') continue;
      if (!isRepositoryName(scope.name))
        throw new OciError('NAME_INVALID', 'invalid repository name in scope', { scope: raw.slice(0, 200) });
      const asked = scope.actions.includes('*')
        ? REPOSITORY_ACTIONS
        : (scope.actions.filter((a) => (REPOSITORY_ACTIONS as string[]).includes(a)) as Action[]);
      const actions = asked.filter((action) => {
        const d = auth.authorizer.authorize({
          principal,
          action,
          resource: { type: 'repository', name: scope.name },
          context: { sourceIp: ip },
        });
        metrics.authorizations.labels(action, d.allowed ? 'allow' : 'deny').inc();
        logger.info(
          {
            event: 'authz',
            at: 'token',
            ip,
            principal: principal.id,
            action,
            resource: scope.name,
            decision: d.allowed ? 'allow' : 'deny',
            policies: d.policies,
          },
          'token scope decision',
        );
        return d.allowed;
      });
      const existing = out.find((e) => e.type === 'repository' && e.name === scope.name);
      if (existing) existing.actions = [...new Set([...existing.actions, ...actions])];
      else out.push({ type: 'repository', name: scope.name, actions });
    }
    return out;
  };

  const principalOfRefresh = async (refresh: string): Promise<Principal> => {
    const parsed = parseSecret(refresh);
    const c = parsed?.kind === 'rt' ? await auth.store.getCredential(parsed.id) : undefined;
    if (
      !c ||
      c.kind !== 'refresh' ||
      !secretMatches(refresh, c.secretHash) ||
      c.revokedAt ||
      (c.expiresAt !== undefined && c.expiresAt <= Date.now())
    ) {
      throw new LoginFailed('refresh token unknown, revoked or expired', 'invalid refresh token');
    }
    const [kind, ...rest] = c.principal.split(':');
    const name = rest.join(':');
    let groups: string[];
    if (kind === 'user') groups = (await auth.credentials.activeUser(name)).groups;
    else if (kind === 'robot') {
      const r = await auth.store.getRobot(name);
      if (!r || r.disabled || (r.expiresAt !== undefined && r.expiresAt <= Date.now()))
        throw new LoginFailed(`robot ${name} disabled or expired`);
      groups = r.groups;
    } else throw new LoginFailed('refresh tokens are issued to users and robots only');
    const principal: Principal = {
      id: c.principal,
      kind: kind as 'user' | 'robot',
      name,
      groups,
      mfa: c.mfa,
      credential: c.id,
    };
    if (!(await auth.revocation.isActive(principal))) throw new LoginFailed(`${c.principal} is disabled`);
    return principal;
  };

  const handle = async (
    req: IncomingMessage & { body?: Record<string, unknown> },
    res: express.Response,
    post: boolean,
  ) => {
    const ip = sourceAddress(req, config.auth.trustProxy);
    const q = new URL(req.url ?? '/', 'http://x').searchParams;
    const body = (post ? req.body : undefined) ?? {};
    const field = (k: string) => (typeof body[k] === 'string' ? (body[k] as string) : undefined);
    const service = post ? field('service') : q.get('service');
    if (service && service !== config.auth.service)
      throw new OciError('PARAMETER_INVALID', `this registry's service is "${config.auth.service}"`, { service });
    const scopes = post
      ? (field('scope') ?? '').split(' ').filter(Boolean)
      : q
          .getAll('scope')
          .flatMap((s) => s.split(' '))
          .filter(Boolean);

    let principal: Principal = ANONYMOUS;
    let method = 'anonymous';
    let claimed: string | undefined;
    const ua = req.headers['user-agent'];
    const login = (decision: 'allow' | 'deny', identity: string, detail: Record<string, string>) =>
      audit?.record({
        type: 'login',
        identity,
        source: ip,
        ...(typeof ua === 'string' ? { userAgent: ua.slice(0, 200) } : {}),
        decision,
        detail: { method, ...detail },
      });
    try {
      await auth.credentials.assertNotThrottled(ip);
      const grantType = post ? field('grant_type') : undefined;
      if (grantType === 'refresh_token') {
        method = 'refresh';
        principal = await principalOfRefresh(field('refresh_token') ?? '');
      } else {
        if (post && grantType !== 'password')
          throw new OciError('PARAMETER_INVALID', 'grant_type must be password or refresh_token', {
            grant_type: grantType ?? null,
          });
        const basic = basicCredentials(req);
        const username = post ? (field('username') ?? basic?.username) : basic?.username;
        const password = post ? (field('password') ?? basic?.password) : basic?.password;
        if (username !== undefined || password !== undefined) {
          method = methodOf(username ?? '', password ?? '');
          // Never a secret: OIDC tokens and personal access tokens are passwords, the user name is not.
          claimed = method === 'oidc' ? 'oidc' : (username ?? '').slice(0, 100);
          principal = await auth.credentials.login(username ?? '', password ?? '', ip);
        }
      }
    } catch (err) {
      if (err instanceof LoginThrottled) {
        metrics.authentications.labels(method, 'throttled').inc();
        metrics.rateLimited.labels('login').inc();
        logger.warn(
          { event: 'authn', ip, method, result: 'throttled' },
          'login refused: too many failures from this address',
        );
        login('deny', claimed ?? 'anonymous', { reason: 'throttled' });
        throw new OciError(
          'TOOMANYREQUESTS',
          'too many failed logins; try again later',
          { retryAfterSeconds: err.retryAfterSeconds },
          { headers: { 'Retry-After': String(err.retryAfterSeconds) } },
        );
      }
      if (err instanceof LoginFailed) {
        metrics.authentications.labels(method, 'failure').inc();
        logger.warn({ event: 'authn', ip, method, result: 'failure', reason: err.reason }, 'login refused');
        login('deny', claimed ?? 'anonymous', { reason: err.reason.slice(0, 200) });
        throw unauthorized(err.publicMessage);
      }
      throw err;
    }
    if (principal.kind !== 'anonymous') {
      metrics.authentications.labels(method, 'success').inc();
      logger.info(
        { event: 'authn', ip, method, principal: principal.id, mfa: principal.mfa, result: 'success' },
        'login',
      );
      login('allow', principal.id, { mfa: String(principal.mfa) });
    }
    const access = grant(principal, scopes, ip);
    const { token, claims } = await auth.tokens.issue(principal, access);
    const out: Record<string, unknown> = {
      token,
      access_token: token,
      expires_in: auth.tokens.ttl,
      issued_at: new Date(claims.issuedAt).toISOString(),
    };
    const offline = post ? field('access_type') === 'offline' : q.get('offline_token') === 'true';
    // A refresh token is a catalog row: a read-only region issues none (clients log in with the password again).
    const canStore = config.mode !== 'read-only';
    if (offline && canStore && method !== 'refresh' && (principal.kind === 'user' || principal.kind === 'robot')) {
      const rt = issueSecret('rt');
      await auth.store.createCredential({
        id: rt.id,
        kind: 'refresh',
        principal: principal.id,
        secretHash: rt.hash,
        label: 'refresh token',
        mfa: principal.mfa,
        expiresAt: Date.now() + config.auth.refreshTokenTtlSeconds * 1000,
      });
      out.refresh_token = rt.secret;
    }
    res.setHeader('Cache-Control', 'no-store');
    res.json(out);
  };

  router.get('/token', (req, res) => handle(req, res, false));
  router.post('/token', express.urlencoded({ extended: false, limit: '64kb' }), (req, res) => handle(req, res, true));
  router.get('/auth/jwks.json', async (_req, res) => {
    res.json(await auth.keys.jwks());
  });
  return router;
}
