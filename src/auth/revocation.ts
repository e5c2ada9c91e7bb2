import type { IdentityStore } from './identity-store';
import type { Principal } from './principal';

/**
 * Whether a token's principal (and the credential it was minted from) is still allowed, cached for at
 * most `ttlMs` per replica: disabling a user or robot, expiring a robot, deleting an OIDC rule or revoking
 * a token stops its tokens everywhere within that time (at most 30 s by configuration).
 */
export class RevocationCheck {
  private readonly cache = new Map<string, { ok: boolean; at: number }>();

  constructor(
    private readonly store: IdentityStore,
    private readonly ttlMs: number,
  ) {}

  async isActive(p: Principal): Promise<boolean> {
    if (p.kind === 'anonymous') return true;
    const key = `${p.id}|${p.credential ?? ''}`;
    const hit = this.cache.get(key);
    const now = Date.now();
    if (hit && now - hit.at < this.ttlMs) return hit.ok;
    const ok = await this.lookup(p, now);
    if (this.cache.size > 50_000) this.cache.clear();
    this.cache.set(key, { ok, at: now });
    return ok;
  }

  private async lookup(p: Principal, now: number): Promise<boolean> {
    if (p.credential) {
      const c = await this.store.getCredential(p.credential);
      if (!c || c.revokedAt || (c.expiresAt !== undefined && c.expiresAt <= now) || c.principal !== p.id) return false;
    }
    if (p.kind === 'user') {
      const u = await this.store.getUser(p.name);
      return !!u && !u.disabled;
    }
    if (p.kind === 'robot') {
      const r = await this.store.getRobot(p.name);
      return !!r && !r.disabled && (r.expiresAt === undefined || r.expiresAt > now);
    }
    if (p.kind === 'federated') return (await this.store.listOidcRules()).some((r) => r.name === p.name && !r.disabled);
    return false;
  }
}
