import type { AuthRuntime } from './auth-runtime';
import { LoginFailed } from '../auth/login';
import { REPOSITORY_ACTIONS, type AccessEntry, type Action, type Principal } from '../auth/principal';
import { parseSecret, secretMatches } from '../auth/secrets';
import { OciError } from '../oci/errors';
import { isRepositoryName } from '../oci/names';
import type { Logger } from '../observability/logger';
import type { Metrics } from '../observability/metrics';

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

/**
 * What the token endpoint and the console's session share: turning asked scopes into granted access, and
 * a refresh token back into its principal.
 */
export class TokenGrants {
  constructor(
    private readonly auth: AuthRuntime,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
  ) {}

  /** The access a token for these scopes carries: what policy allows of what was asked. */
  grant(principal: Principal, scopes: string[], ip: string): AccessEntry[] {
    const { auth, metrics, logger } = this;
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
  }

  /** The principal a refresh token stands for, checked as a login is: unknown, revoked, expired or disabled fail. */
  async principalOfRefresh(refresh: string): Promise<Principal> {
    const { auth } = this;
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
  }
}
