import type { IncomingMessage } from 'node:http';
import express from 'express';
import type { Config } from '../config/config';
import { LoginFailed } from '../auth/login';
import type { PeopleSso, SsoTransaction } from '../auth/people-sso';
import { cookieValue, openConsoleSession, secureRequest, type ConsoleSessionDeps } from './console-session';
import { realmOf } from './access-gate';
import { sourceAddress } from './source-address';

const TX_COOKIE = 'cairn_sso';
const TX_PATH = '/ui/sso';

function transactionOf(req: IncomingMessage): SsoTransaction | undefined {
  const raw = cookieValue(req, TX_COOKIE);
  if (!raw) return undefined;
  try {
    const t = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as SsoTransaction;
    if (typeof t.state === 'string' && typeof t.nonce === 'string' && typeof t.verifier === 'string') return t;
  } catch {
    // Not one of ours: no sign-in in progress.
  }
  return undefined;
}

/** The callback address the provider returns to, on this registry's public origin (as challenges name it). */
function redirectUri(req: IncomingMessage, config: Config): string {
  return new URL('/ui/sso/callback', realmOf(req, config)).toString();
}

/**
 * The console's single sign-on: `/ui/sso` says whether it is configured, `/ui/sso/start` sends the browser
 * to the provider with a fresh state, nonce and PKCE verifier kept in a short-lived HttpOnly cookie
 * (SameSite=Lax: the provider's redirect back is a cross-site navigation), `/ui/sso/callback` checks them,
 * exchanges the code and opens a console session. Failures land on the sign-in page with a reason that
 * names no secret.
 */
export function consoleSso(sso: PeopleSso | undefined, d: ConsoleSessionDeps): express.Router {
  const router = express.Router();
  router.get(TX_PATH, (_req, res) => {
    res.setHeader('Cache-Control', 'no-store');
    res.json(sso ? { enabled: true, displayName: sso.displayName } : { enabled: false });
  });
  if (!sso) return router;

  const fail = (res: express.Response, message: string) => {
    res.setHeader('Set-Cookie', `${TX_COOKIE}=; Path=${TX_PATH}; HttpOnly; SameSite=Lax; Max-Age=0`);
    res.redirect(302, `/ui/#/sso-failed/${encodeURIComponent(message.slice(0, 200))}`);
  };

  router.get(`${TX_PATH}/start`, async (req, res) => {
    if (d.config.mode === 'read-only') return fail(res, 'sign in on the primary region');
    let begun;
    try {
      begun = await sso.begin(redirectUri(req, d.config));
    } catch (err) {
      d.logger.warn({ event: 'authn', method: 'sso', err: (err as Error).message }, 'single sign-on unavailable');
      return fail(res, 'the single sign-on provider cannot be reached');
    }
    const value = Buffer.from(JSON.stringify(begun.transaction)).toString('base64url');
    res.setHeader(
      'Set-Cookie',
      `${TX_COOKIE}=${value}; Path=${TX_PATH}; HttpOnly; SameSite=Lax; Max-Age=600` +
        (secureRequest(req, d.config) ? '; Secure' : ''),
    );
    res.setHeader('Cache-Control', 'no-store');
    res.redirect(302, begun.url);
  });

  router.get(`${TX_PATH}/callback`, async (req, res) => {
    const q = (k: string) => (typeof req.query[k] === 'string' ? (req.query[k] as string) : '');
    const ip = sourceAddress(req, d.config.auth.trustProxy);
    const deny = (reason: string, message: string) => {
      d.metrics.authentications.labels('sso', 'failure').inc();
      d.logger.warn({ event: 'authn', ip, method: 'sso', result: 'failure', reason }, 'login refused');
      d.audit?.record({
        type: 'login',
        identity: 'anonymous',
        source: ip,
        decision: 'deny',
        detail: { method: 'sso', reason: reason.slice(0, 200) },
      });
      fail(res, message);
    };
    if (q('error')) return deny(`provider: ${q('error')}`, `the provider refused: ${q('error')}`);
    const t = transactionOf(req);
    if (!t) return deny('sso: no sign-in in progress in this browser', 'single sign-on failed: start again');
    try {
      const principal = await sso.finish(q('code'), q('state'), t, redirectUri(req, d.config));
      await openConsoleSession(d, req, res, principal, 'sso');
      // Both cookies: the session's, and the transaction's removal.
      const session = res.getHeader('Set-Cookie') as string;
      res.setHeader('Set-Cookie', [session, `${TX_COOKIE}=; Path=${TX_PATH}; HttpOnly; SameSite=Lax; Max-Age=0`]);
      res.redirect(302, '/ui/');
    } catch (err) {
      if (err instanceof LoginFailed) return deny(err.reason, err.publicMessage);
      d.logger.warn({ event: 'authn', method: 'sso', err: (err as Error).message }, 'single sign-on failed');
      return deny(`sso: ${(err as Error).message}`, 'single sign-on failed: the provider cannot be reached');
    }
  });
  return router;
}
