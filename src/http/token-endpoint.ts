import type { IncomingMessage } from 'node:http';
import express from 'express';
import type { Config } from '../config/config';
import type { AuthRuntime } from './auth-runtime';
import { LoginFailed, LoginThrottled, OIDC_USER, ROBOT_PREFIX } from '../auth/login';
import { ANONYMOUS, type Principal } from '../auth/principal';
import { issueSecret, parseSecret } from '../auth/secrets';
import { OciError } from '../oci/errors';
import { basicCredentials } from './basic-auth';
import type { Logger } from '../observability/logger';
import type { Metrics } from '../observability/metrics';
import { sourceAddress } from './source-address';
import { TokenGrants } from './token-grants';
import type { AuditLog } from '../audit/audit-log';

const unauthorized = (message: string) =>
  new OciError('UNAUTHORIZED', message, undefined, { headers: { 'WWW-Authenticate': 'Basic realm="cairn"' } });

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

  const grants = new TokenGrants(auth, metrics, logger);

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
        principal = await grants.principalOfRefresh(field('refresh_token') ?? '');
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
    const access = grants.grant(principal, scopes, ip);
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
