import type { Principal } from '../auth/principal';
import type { AuthzResource } from './authorizer';
import { PolicyError } from './cedar-authorizer';

// What `cairn policy test` and the console's "who may do what" page both ask the authorizer about.

/** The principal a policy test asks about: `user:<name>`, `robot:<name>`, `oidc:<rule>` or `anonymous`. */
export function principalOf(s: string, groups: string[], mfa: boolean): Principal {
  if (s === 'anonymous') return { id: 'anonymous', kind: 'anonymous', name: 'anonymous', groups: [], mfa: false };
  const m = /^(user|robot|oidc):(.+)$/.exec(s);
  if (!m)
    throw new PolicyError(`the principal must be user:<name>, robot:<name>, oidc:<rule> or anonymous, got "${s}"`);
  const kind = m[1] === 'oidc' ? 'federated' : (m[1] as 'user' | 'robot');
  return {
    id: s,
    kind,
    name: m[2]!,
    groups,
    mfa,
    ...(kind === 'federated' ? { federated: { issuer: '', subject: '' } } : {}),
  };
}

/** A repository (ml/bert), a namespace (ml/) or `*` for the registry. */
export function resourceOf(s: string): AuthzResource {
  if (s === '*' || s === 'registry') return { type: 'registry' };
  return s.endsWith('/') ? { type: 'namespace', name: s } : { type: 'repository', name: s };
}
