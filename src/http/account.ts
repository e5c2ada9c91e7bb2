import type { IncomingMessage } from 'node:http';
import express from 'express';
import type { AuthRuntime } from './auth-runtime';
import { LoginFailed } from '../auth/login';
import { issueSecret } from '../auth/secrets';
import { newTotpSecret, totpMatches, totpUri } from '../auth/totp';
import type { UserRecord } from '../auth/identity-store';
import { OciError } from '../oci/errors';
import { basicCredentials } from './basic-auth';
import type { Logger } from '../observability/logger';
import type { Metrics } from '../observability/metrics';
import { sourceAddress } from './source-address';
import type { AuditLog } from '../audit/audit-log';

const MAX_PAT_DAYS = 365;

/**
 * A user's own account: TOTP enrolment, and personal access tokens, which a human obtains only with
 * the password and a current TOTP code and then uses as the password in CLI clients (docker, skopeo,
 * oras login). Every call authenticates with Basic user:password; the ones that mint credentials also
 * need `X-Cairn-OTP`.
 */
export function accountEndpoints(
  auth: AuthRuntime,
  metrics: Metrics,
  logger: Logger,
  trustProxy: boolean,
  audit?: AuditLog,
): express.Router {
  const router = express.Router();
  router.use('/auth', express.json({ limit: '16kb' }));

  const change = (req: IncomingMessage, type: string, name: string, detail: Record<string, string> = {}) =>
    audit?.append({
      type,
      identity: `user:${name}`,
      source: sourceAddress(req, trustProxy),
      decision: 'allow',
      detail,
    });

  const user = async (req: IncomingMessage, needOtp: boolean): Promise<UserRecord> => {
    const ip = sourceAddress(req, trustProxy);
    const creds = basicCredentials(req);
    if (!creds)
      throw new OciError('UNAUTHORIZED', 'send your user name and password (Basic)', undefined, {
        headers: { 'WWW-Authenticate': 'Basic realm="cairn"' },
      });
    try {
      await auth.credentials.assertNotThrottled(ip);
      const u = await auth.credentials.passwordOnly(creds.username, creds.password);
      if (needOtp) {
        if (!u.totpEnabled || !u.totpSecret)
          throw new LoginFailed(
            `${u.name} has no MFA`,
            'enrol MFA first (POST /auth/mfa/enroll, then /auth/mfa/confirm)',
          );
        const otp = req.headers['x-cairn-otp'];
        if (typeof otp !== 'string' || !(await totpMatches(u.totpSecret, otp.trim()))) {
          await auth.store.recordLoginFailure(u.name, 5, 900_000);
          throw new LoginFailed(
            `${u.name}: wrong or missing TOTP code`,
            'a current TOTP code is required in X-Cairn-OTP',
          );
        }
      }
      metrics.authentications.labels(needOtp ? 'password+totp' : 'password', 'success').inc();
      logger.info(
        {
          event: 'authn',
          ip,
          principal: `user:${u.name}`,
          method: needOtp ? 'password+totp' : 'password',
          result: 'success',
          at: req.url,
        },
        'account login',
      );
      return u;
    } catch (err) {
      if (err instanceof LoginFailed) {
        metrics.authentications.labels(needOtp ? 'password+totp' : 'password', 'failure').inc();
        logger.warn(
          { event: 'authn', ip, result: 'failure', reason: err.reason, at: req.url },
          'account login refused',
        );
        throw new OciError('UNAUTHORIZED', err.publicMessage, undefined, {
          headers: { 'WWW-Authenticate': 'Basic realm="cairn"' },
        });
      }
      throw err;
    }
  };

  router.post('/auth/mfa/enroll', async (req, res) => {
    const u = await user(req, false);
    if (u.totpEnabled)
      throw new OciError(
        'DENIED',
        'MFA is already enrolled; an administrator can reset it (cairn admin users reset-mfa)',
      );
    const secret = newTotpSecret();
    await auth.store.updateUser(u.name, { totpSecret: secret, totpEnabled: false });
    logger.info({ event: 'account', principal: `user:${u.name}`, action: 'mfa-enroll' }, 'MFA enrolment started');
    await change(req, 'credential.mfa.enroll', u.name);
    res.setHeader('Cache-Control', 'no-store');
    res.json({
      secret,
      otpauthUri: totpUri(secret, u.name, 'Cairn'),
      next: 'POST /auth/mfa/confirm with {"code": "<current code>"}',
    });
  });

  router.post('/auth/mfa/confirm', async (req, res) => {
    const u = await user(req, false);
    const code = typeof req.body?.code === 'string' ? req.body.code : '';
    if (!u.totpSecret || u.totpEnabled) throw new OciError('DENIED', 'no MFA enrolment is pending');
    if (!(await totpMatches(u.totpSecret, code)))
      throw new OciError('UNAUTHORIZED', 'the code does not match; check the device clock and try the current code');
    await auth.store.updateUser(u.name, { totpEnabled: true });
    logger.info({ event: 'account', principal: `user:${u.name}`, action: 'mfa-confirm' }, 'MFA enabled');
    await change(req, 'credential.mfa.enable', u.name);
    res.json({ mfa: true });
  });

  router.post('/auth/tokens', async (req, res) => {
    const u = await user(req, true);
    const label = typeof req.body?.label === 'string' ? req.body.label.slice(0, 100) : '';
    const days = req.body?.expiresInDays === undefined ? 90 : Number(req.body.expiresInDays);
    if (!Number.isInteger(days) || days < 1 || days > MAX_PAT_DAYS)
      throw new OciError('PARAMETER_INVALID', `expiresInDays must be a whole number from 1 to ${MAX_PAT_DAYS}`, {
        expiresInDays: req.body?.expiresInDays,
      });
    const pat = issueSecret('pat');
    const expiresAt = Date.now() + days * 86_400_000;
    await auth.store.createCredential({
      id: pat.id,
      kind: 'pat',
      principal: `user:${u.name}`,
      secretHash: pat.hash,
      label,
      mfa: true,
      expiresAt,
    });
    logger.info(
      { event: 'account', principal: `user:${u.name}`, action: 'pat-create', credential: pat.id },
      'personal access token created',
    );
    await change(req, 'credential.token.create', u.name, { credential: pat.id });
    res.setHeader('Cache-Control', 'no-store');
    res.status(201).json({
      id: pat.id,
      token: pat.secret,
      label,
      expiresAt: new Date(expiresAt).toISOString(),
      note: 'shown once: use it as the password of `docker login`, `skopeo login` or `oras login`',
    });
  });

  router.get('/auth/tokens', async (req, res) => {
    const u = await user(req, true);
    const list = await auth.store.listCredentials(`user:${u.name}`);
    res.json({
      tokens: list
        .filter((c) => c.kind === 'pat')
        .map((c) => ({
          id: c.id,
          label: c.label,
          createdAt: new Date(c.createdAt).toISOString(),
          expiresAt: c.expiresAt && new Date(c.expiresAt).toISOString(),
          revoked: !!c.revokedAt,
          lastUsedAt: c.lastUsedAt && new Date(c.lastUsedAt).toISOString(),
        })),
    });
  });

  router.delete('/auth/tokens/:id', async (req, res) => {
    const u = await user(req, true);
    const c = await auth.store.getCredential(String(req.params.id));
    if (!c || c.principal !== `user:${u.name}` || c.kind !== 'pat')
      throw new OciError('NOT_FOUND', 'no such token', { id: req.params.id });
    await auth.store.revokeCredential(c.id);
    logger.info(
      { event: 'account', principal: `user:${u.name}`, action: 'pat-revoke', credential: c.id },
      'personal access token revoked',
    );
    await change(req, 'credential.token.revoke', u.name, { credential: c.id });
    res.status(204).end();
  });
  return router;
}
