import type { IncomingMessage, ServerResponse } from 'node:http';
import express from 'express';
import type { Config } from '../config/config';
import type { AuthRuntime } from './auth-runtime';
import { LoginFailed, LoginThrottled, MfaRequired } from '../auth/login';
import { issueSecret, parseSecret } from '../auth/secrets';
import type { Principal } from '../auth/principal';
import { OciError } from '../oci/errors';
import type { Logger } from '../observability/logger';
import type { Metrics } from '../observability/metrics';
import type { AuditLog } from '../audit/audit-log';
import { sourceAddress } from './source-address';
import { TokenGrants } from './token-grants';

export const SESSION_COOKIE = 'cairn_console';
const COOKIE_PATH = '/ui/session';

/** The value of one cookie of the request (the console's session, the single sign-on in progress). */
export function cookieValue(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim();
  }
  return undefined;
}

const cookieOf = (req: IncomingMessage) => cookieValue(req, SESSION_COOKIE);

export function secureRequest(req: IncomingMessage, config: Config): boolean {
  const forwarded = config.auth.trustProxy ? req.headers['x-forwarded-proto'] : undefined;
  if (typeof forwarded === 'string') return forwarded.split(',')[0]!.trim() === 'https';
  return (req.socket as { encrypted?: boolean }).encrypted === true;
}

function setSessionCookie(
  req: IncomingMessage,
  res: ServerResponse,
  config: Config,
  value: string,
  maxAgeSeconds: number,
): void {
  res.setHeader(
    'Set-Cookie',
    `${SESSION_COOKIE}=${value}; Path=${COOKIE_PATH}; HttpOnly; SameSite=Strict; Max-Age=${maxAgeSeconds}` +
      (secureRequest(req, config) ? '; Secure' : ''),
  );
}

export interface ConsoleSessionDeps {
  auth: AuthRuntime;
  config: Config;
  metrics: Metrics;
  logger: Logger;
  audit?: AuditLog | undefined;
}

/**
 * Starts a console session for a person who proved who they are (password and code, or single sign-on):
 * a refresh credential that lives `auth.consoleSessionSeconds`, in the session cookie; the sign-in is
 * counted, logged and audited. Returns when the session ends.
 */
export async function openConsoleSession(
  d: ConsoleSessionDeps,
  req: IncomingMessage,
  res: ServerResponse,
  principal: Principal,
  method: 'console' | 'sso',
): Promise<number> {
  const ip = sourceAddress(req, d.config.auth.trustProxy);
  const session = issueSecret('rt');
  const expiresAt = Date.now() + d.config.auth.consoleSessionSeconds * 1000;
  await d.auth.store.createCredential({
    id: session.id,
    kind: 'refresh',
    principal: principal.id,
    secretHash: session.hash,
    label: 'console session',
    mfa: principal.mfa,
    expiresAt,
  });
  d.metrics.authentications.labels(method, 'success').inc();
  d.logger.info({ event: 'authn', ip, method, principal: principal.id, mfa: principal.mfa }, 'login');
  const ua = req.headers['user-agent'];
  d.audit?.record({
    type: 'login',
    identity: principal.id,
    source: ip,
    ...(typeof ua === 'string' ? { userAgent: ua.slice(0, 200) } : {}),
    decision: 'allow',
    detail: { method, mfa: String(principal.mfa) },
  });
  setSessionCookie(req, res, d.config, session.secret, d.config.auth.consoleSessionSeconds);
  return expiresAt;
}

/**
 * The web console's session. Signing in keeps a refresh credential in an HttpOnly, SameSite=Strict
 * cookie that only these endpoints receive (its path), so neither the page's script nor anything
 * injected into it can read a long-lived secret; the page asks here for short access tokens, one per
 * scope, held in memory, and calls the same APIs every client calls with them. Every call must carry
 * `X-Cairn-Console: 1`, which a cross-site form cannot send and a cross-site script may not without a
 * CORS grant this registry never gives. Signing out revokes the credential.
 */
export function consoleSession(
  auth: AuthRuntime,
  config: Config,
  metrics: Metrics,
  logger: Logger,
  audit?: AuditLog,
): express.Router {
  const router = express.Router();
  const grants = new TokenGrants(auth, metrics, logger);
  router.use(COOKIE_PATH, (req, _res, next) => {
    if (req.headers['x-cairn-console'] !== '1')
      throw new OciError('DENIED', 'console requests carry X-Cairn-Console: 1', undefined);
    next();
  });
  router.use(COOKIE_PATH, express.json({ limit: '16kb' }));

  const deps = { auth, config, metrics, logger, audit };
  const setCookie = (req: IncomingMessage, res: express.Response, value: string, maxAgeSeconds: number) =>
    setSessionCookie(req, res, config, value, maxAgeSeconds);

  const describe = (p: Principal, expiresAt: number) => ({
    user: p.name,
    principal: p.id,
    mfa: p.mfa,
    expiresAt: new Date(expiresAt).toISOString(),
  });

  /** The session's principal and end, or 401 when there is none (signed out, expired, revoked, disabled). */
  const current = async (req: IncomingMessage) => {
    const secret = cookieOf(req);
    const id = secret ? parseSecret(secret)?.id : undefined;
    try {
      if (!secret || !id) throw new LoginFailed('no console session');
      const principal = await grants.principalOfRefresh(secret);
      const c = await auth.store.getCredential(id);
      return { principal, id, expiresAt: c?.expiresAt ?? 0 };
    } catch (err) {
      if (err instanceof LoginFailed) throw new OciError('UNAUTHORIZED', 'sign in again', { session: 'none' });
      throw err;
    }
  };

  router.post(COOKIE_PATH, async (req, res) => {
    const ip = sourceAddress(req, config.auth.trustProxy);
    const body = (req.body ?? {}) as Record<string, unknown>;
    const text = (k: string) => (typeof body[k] === 'string' ? (body[k] as string) : undefined);
    const username = (text('username') ?? '').slice(0, 200);
    const ua = req.headers['user-agent'];
    const login = (decision: 'allow' | 'deny', identity: string, detail: Record<string, string>) =>
      audit?.record({
        type: 'login',
        identity,
        source: ip,
        ...(typeof ua === 'string' ? { userAgent: ua.slice(0, 200) } : {}),
        decision,
        detail: { method: 'console', ...detail },
      });
    if (config.mode === 'read-only')
      throw new OciError(
        'READ_ONLY',
        `sign in to the console of the primary${config.primary ? `, ${config.primary}` : ''}`,
        {
          ...(config.primary ? { primary: config.primary } : {}),
        },
      );
    let principal: Principal;
    try {
      await auth.credentials.assertNotThrottled(ip);
      principal = await auth.credentials.personLogin(username, text('password') ?? '', text('otp'), ip);
    } catch (err) {
      if (err instanceof MfaRequired) throw new OciError('UNAUTHORIZED', err.message, { mfa: 'required' });
      if (err instanceof LoginThrottled) {
        metrics.authentications.labels('console', 'throttled').inc();
        login('deny', username || 'anonymous', { reason: 'throttled' });
        throw new OciError(
          'TOOMANYREQUESTS',
          'too many failed sign-ins; try again later',
          { retryAfterSeconds: err.retryAfterSeconds },
          { headers: { 'Retry-After': String(err.retryAfterSeconds) } },
        );
      }
      if (err instanceof LoginFailed) {
        metrics.authentications.labels('console', 'failure').inc();
        logger.warn({ event: 'authn', ip, method: 'console', result: 'failure', reason: err.reason }, 'login refused');
        login('deny', username || 'anonymous', { reason: err.reason.slice(0, 200) });
        throw new OciError('UNAUTHORIZED', err.publicMessage, undefined);
      }
      throw err;
    }
    const expiresAt = await openConsoleSession(deps, req, res, principal, 'console');
    res.setHeader('Cache-Control', 'no-store');
    res.json(describe(principal, expiresAt));
  });

  router.get(COOKIE_PATH, async (req, res) => {
    const s = await current(req);
    res.setHeader('Cache-Control', 'no-store');
    res.json(describe(s.principal, s.expiresAt));
  });

  // An access token for the scopes the page is about to use; never longer than the session.
  router.post(`${COOKIE_PATH}/token`, async (req, res) => {
    const s = await current(req);
    const scopes = (req.body as { scopes?: unknown } | undefined)?.scopes ?? [];
    if (!Array.isArray(scopes) || scopes.some((x) => typeof x !== 'string'))
      throw new OciError('PARAMETER_INVALID', 'scopes must be a list of strings', undefined);
    const access = grants.grant(s.principal, scopes as string[], sourceAddress(req, config.auth.trustProxy));
    const { token, claims } = await auth.tokens.issue(s.principal, access);
    res.setHeader('Cache-Control', 'no-store');
    res.json({ token, expiresAt: new Date(Math.min(claims.expiresAt, s.expiresAt)).toISOString() });
  });

  router.delete(COOKIE_PATH, async (req, res) => {
    const secret = cookieOf(req);
    const id = secret ? parseSecret(secret)?.id : undefined;
    if (id) {
      const c = await auth.store.getCredential(id);
      if (c && c.kind === 'refresh' && c.label === 'console session') {
        await auth.store.revokeCredential(id);
        audit?.record({
          type: 'logout',
          identity: c.principal,
          source: sourceAddress(req, config.auth.trustProxy),
          decision: 'allow',
          detail: { method: 'console' },
        });
      }
    }
    setCookie(req, res, '', 0);
    res.status(204).end();
  });

  return router;
}

/** `/ui/session/download/<repository>/blobs/<digest>?name=<file>`: a file of an artifact, as a download. */
export const CONSOLE_DOWNLOAD =
  /^\/ui\/session\/download\/(.+)\/blobs\/([a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+)$/;

/**
 * A console download: the browser fetches the file itself (a plain link, so a model of many GB streams to
 * disk instead of into the page's memory), with the session cookie, which SameSite=Strict keeps to this
 * registry's own pages. The session's principal gets a token for pulling that repository only, and the
 * request then goes through the /v2 blob route like any pull: the same access check, verification and
 * audit. Returns the /v2 path to serve, or throws 401 when there is no session.
 */
export async function consoleDownload(
  auth: AuthRuntime | undefined,
  config: Config,
  metrics: Metrics,
  logger: Logger,
  req: IncomingMessage,
  res: ServerResponse,
  repository: string,
  digest: string,
  name: string | null,
): Promise<string> {
  const file =
    (name ?? '')
      .split('/')
      .pop()!
      .replace(/[^A-Za-z0-9._-]/g, '_')
      .slice(0, 200) || digest.replace(':', '-');
  const path = `/v2/${repository}/blobs/${digest}`;
  // Set once the session is known, so that a refusal is not offered as a file.
  const asFile = () => {
    res.setHeader('Content-Disposition', `attachment; filename="${file}"`);
    res.setHeader('Cache-Control', 'no-store');
    return path;
  };
  // Authentication off: nothing to check, as for any client.
  if (!auth) return asFile();
  const secret = cookieOf(req);
  const grants = new TokenGrants(auth, metrics, logger);
  let principal: Principal;
  try {
    if (!secret) throw new LoginFailed('no console session');
    principal = await grants.principalOfRefresh(secret);
  } catch (err) {
    if (err instanceof LoginFailed)
      throw new OciError('UNAUTHORIZED', 'sign in to the console again', { session: 'none' });
    throw err;
  }
  const access = grants.grant(principal, [`repository:${repository}:pull`], sourceAddress(req, config.auth.trustProxy));
  const { token } = await auth.tokens.issue(principal, access);
  req.headers.authorization = `Bearer ${token}`;
  return asFile();
}

/**
 * With authentication off (`auth.mode: none`, local experiments) there is no one to sign in: the console
 * is told so and uses the APIs without a token, as any client then does.
 */
export function consoleWithoutAuth(): express.Router {
  const router = express.Router();
  router.get(COOKIE_PATH, (_req, res) => {
    res.json({ user: 'anyone (authentication is off)', principal: 'auth-disabled', mfa: false, expiresAt: null });
  });
  router.post(`${COOKIE_PATH}/token`, (_req, res) => {
    res.json({ token: 'none', expiresAt: new Date(Date.now() + 3600_000).toISOString() });
  });
  router.delete(COOKIE_PATH, (_req, res) => res.status(204).end());
  return router;
}
