import type { Config } from '../config/config';
import type { Logger } from '../observability/logger';
import { CedarAuthorizer } from '../policy/cedar-authorizer';
import { ensurePolicyDir } from '../policy/defaults';
import type { IdentityStore } from '../auth/identity-store';
import type { AuditLog } from '../audit/audit-log';
import { CredentialChecker } from '../auth/login';
import { OidcFederation } from '../auth/oidc';
import { PeopleSso } from '../auth/people-sso';
import type { RateLimiter } from '../auth/rate-limiter';
import { createRateLimiter } from '../auth/rate-limiters';
import { RevocationCheck } from '../auth/revocation';
import { KeyRing, type ExternalTokenSigner } from '../auth/signing-keys';
import { TokenService } from '../auth/tokens';

/** Everything authentication and authorization need at run time, built once per process. */
export interface AuthRuntime {
  store: IdentityStore;
  keys: KeyRing;
  tokens: TokenService;
  authorizer: CedarAuthorizer;
  revocation: RevocationCheck;
  limiter: RateLimiter;
  credentials: CredentialChecker;
  /** Single sign-on for people in the web console, when auth.sso is configured. */
  sso?: PeopleSso;
  close(): Promise<void>;
}

export async function startAuth(
  config: Config,
  store: IdentityStore,
  logger: Logger,
  options: { failureDelayMs?: number; audit?: AuditLog; tokenSigner?: ExternalTokenSigner } = {},
): Promise<AuthRuntime> {
  const a = config.auth;
  // A retired key verifies as long as a token it signed may still be used (an upload bound to it included).
  const keys = new KeyRing(store, (a.tokenTtlSeconds + a.uploadBindingSeconds) * 1000, undefined, options.tokenSigner);
  await keys.init();
  const tokens = new TokenService(keys, 'cairn', a.service, a.tokenTtlSeconds);
  if (ensurePolicyDir(a.policyDir))
    logger.info({ policyDir: a.policyDir }, 'policy directory created with the built-in roles');
  const authorizer = new CedarAuthorizer(a.policyDir, store, logger);
  authorizer.onLoad = (summary) =>
    options.audit?.record({
      type: 'policy.load',
      identity: 'system',
      decision: 'allow',
      detail: { ...summary, policyDir: a.policyDir },
    });
  await authorizer.load();
  authorizer.watch(a.policyReloadSeconds);
  const limiter = createRateLimiter(config.rateLimits.backend);
  await limiter.init();
  const oidc = new OidcFederation(store, { allowHttpIssuers: a.allowHttpIssuers });
  return {
    store,
    keys,
    tokens,
    authorizer,
    revocation: new RevocationCheck(store, a.revocationCheckSeconds * 1000),
    limiter,
    credentials: new CredentialChecker(store, oidc, limiter, config, options.failureDelayMs),
    ...(a.sso ? { sso: new PeopleSso(a.sso, store, a.allowHttpIssuers) } : {}),
    close: async () => {
      authorizer.close();
      await limiter.close();
    },
  };
}
