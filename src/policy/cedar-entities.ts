import type { EntityJson, EntityUidJson } from '@cedar-policy/cedar-wasm/nodejs';
import type { Principal } from '../auth/principal';
import type { ResourceLabels } from '../auth/identity-store';
import type { AuthzResource } from './authorizer';

export const REGISTRY: EntityUidJson = { type: 'Cairn::Registry', id: 'cairn' };

export function principalUid(p: Pick<Principal, 'kind' | 'name'>): EntityUidJson {
  switch (p.kind) {
    case 'user':
      return { type: 'Cairn::User', id: p.name };
    case 'robot':
      return { type: 'Cairn::Robot', id: p.name };
    case 'federated':
      return { type: 'Cairn::Federated', id: p.name };
    default:
      return { type: 'Cairn::Anonymous', id: 'anonymous' };
  }
}

/** A role binding's principal string (`user:alice`, `group:ml`, `anonymous`…) as a Cedar entity. */
export function bindingPrincipalUid(s: string): EntityUidJson | undefined {
  if (s === 'anonymous') return { type: 'Cairn::Anonymous', id: 'anonymous' };
  const i = s.indexOf(':');
  const kind = s.slice(0, i);
  const name = s.slice(i + 1);
  if (i < 1 || !name) return undefined;
  const type = { user: 'Cairn::User', robot: 'Cairn::Robot', oidc: 'Cairn::Federated', group: 'Cairn::Group' }[kind];
  return type ? { type, id: name } : undefined;
}

/** A scope: `*` the registry, `ml/` a namespace (trailing slash), `ml/bert` a repository. */
export function scopeUid(scope: string): EntityUidJson | undefined {
  if (scope === '*') return REGISTRY;
  if (!/^[a-z0-9]+([._/-][a-z0-9]+)*\/?$/.test(scope)) return undefined;
  return scope.endsWith('/') ? { type: 'Cairn::Namespace', id: scope } : { type: 'Cairn::Repository', id: scope };
}

function groupUids(groups: string[]): EntityUidJson[] {
  const out: EntityUidJson[] = [];
  for (const g of groups) out.push({ type: 'Cairn::Group', id: g });
  return out;
}

/** `ml/team/bert` → [`ml/`, `ml/team/`]. */
function namespacesOf(repository: string): string[] {
  const parts = repository.split('/');
  const out: string[] = [];
  let prefix = '';
  for (let i = 0; i < parts.length - 1; i++) {
    prefix += `${parts[i]}/`;
    out.push(prefix);
  }
  return out;
}

function labelAttrs(l: ResourceLabels | undefined): Record<string, unknown> {
  const attrs: Record<string, unknown> = {};
  if (l?.ownerTeam) attrs.ownerTeam = { __entity: { type: 'Cairn::Group', id: l.ownerTeam } };
  if (l?.sensitivity) attrs.sensitivity = l.sensitivity;
  return attrs;
}

/**
 * The entities a decision needs: the principal with its groups, and the resource inside its namespaces
 * inside the registry. A repository without labels of its own inherits the nearest namespace's.
 */
export function requestEntities(
  principal: Principal,
  resource: AuthzResource,
  labels: Map<string, ResourceLabels>,
): { principal: EntityUidJson; resource: EntityUidJson; entities: EntityJson[] } {
  const p = principalUid(principal);
  const entities: EntityJson[] = [];
  const attrs: Record<string, unknown> =
    principal.kind === 'federated'
      ? { issuer: principal.federated?.issuer ?? '', subject: principal.federated?.subject ?? '' }
      : {};
  entities.push({
    uid: p,
    attrs: attrs as EntityJson['attrs'],
    parents: principal.kind === 'anonymous' ? [] : groupUids(principal.groups),
  });
  entities.push({ uid: REGISTRY, attrs: {}, parents: [] });
  if (resource.type === 'registry') return { principal: p, resource: REGISTRY, entities };

  const name = resource.name;
  const namespaces =
    resource.type === 'namespace'
      ? [...namespacesOf(name.replace(/\/$/, '')), name.endsWith('/') ? name : `${name}/`]
      : namespacesOf(name);
  let inherited: ResourceLabels | undefined;
  let parent: EntityUidJson = REGISTRY;
  for (const ns of namespaces) {
    inherited = labels.get(ns) ?? inherited;
    const uid = { type: 'Cairn::Namespace', id: ns };
    entities.push({ uid, attrs: labelAttrs(inherited) as EntityJson['attrs'], parents: [parent] });
    parent = uid;
  }
  if (resource.type === 'namespace') return { principal: p, resource: parent, entities };
  const uid = { type: 'Cairn::Repository', id: name };
  entities.push({
    uid,
    attrs: { name, ...labelAttrs(labels.get(name) ?? inherited) } as EntityJson['attrs'],
    parents: [parent],
  });
  return { principal: p, resource: uid, entities };
}
