import { random, sha256, OCI_MANIFEST, EMPTY_CONFIG } from '../conformance/client';
import type { TestRegistry } from '../helpers/server';
import { addUser, startAuthRegistry, storeOf, policiesNow } from '../helpers/auth';

/** Parses a Bearer challenge into its parameters. */
function challengeOf(res: Response): Record<string, string> {
  const header = res.headers.get('www-authenticate') ?? '';
  return Object.fromEntries([...header.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]));
}

/**
 * A client that knows nothing of the operation it performs: on a 401 it asks the realm for exactly the
 * scope the challenge names (as @sigstore/oci and containerd do) and retries with that token; later
 * requests reuse the token it holds until they are challenged again.
 */
class ChallengeFollower {
  token: string | undefined;
  scopes: string[] = [];
  constructor(
    private readonly base: string,
    private readonly user: string,
    private readonly password: string,
  ) {}

  async fetch(path: string, init: RequestInit = {}): Promise<Response> {
    const go = () =>
      fetch(`${this.base}${path}`, {
        ...init,
        headers: {
          ...(init.headers as Record<string, string>),
          ...(this.token ? { Authorization: `Bearer ${this.token}` } : {}),
        },
      });
    const first = await go();
    if (first.status !== 401) return first;
    const c = challengeOf(first);
    this.scopes.push(c.scope ?? '');
    const q = (c.scope ?? '')
      .split(' ')
      .filter(Boolean)
      .map((s) => `scope=${encodeURIComponent(s)}`)
      .join('&');
    const t = await fetch(`${c.realm}?service=${c.service}&${q}`, {
      headers: { Authorization: `Basic ${Buffer.from(`${this.user}:${this.password}`).toString('base64')}` },
    });
    if (t.status !== 200) throw new Error(`token: ${t.status}`);
    this.token = ((await t.json()) as { token: string }).token;
    return go();
  }
}

describe('challenges name what the operation needs (as CNCF Distribution words them)', () => {
  let reg: TestRegistry;
  beforeAll(async () => {
    reg = await startAuthRegistry();
    await addUser(reg, 'paul', 'paul-password-123', ['ml-team'], []);
    await storeOf(reg).bindRole({ principal: 'group:ml-team', role: 'publisher', scope: 'ml/' });
    await storeOf(reg).bindRole({ principal: 'group:ml-team', role: 'maintainer', scope: 'ml/' });
    await policiesNow(reg);
  });
  afterAll(async () => reg.close());

  it('challenges an upload, a manifest PUT, a DELETE and a mount with the scopes Distribution names', async () => {
    const scopeOf = async (path: string, method: string) =>
      challengeOf(await fetch(`${reg.url}${path}`, { method })).scope;
    expect(await scopeOf('/v2/ml/a/blobs/uploads/', 'POST')).toBe('repository:ml/a:pull,push');
    expect(await scopeOf('/v2/ml/a/blobs/uploads/x', 'PATCH')).toBe('repository:ml/a:pull,push');
    expect(await scopeOf('/v2/ml/a/manifests/v1', 'PUT')).toBe('repository:ml/a:pull,push');
    expect(await scopeOf(`/v2/ml/a/manifests/${sha256('x')}`, 'PUT')).toBe('repository:ml/a:pull,push');
    expect(await scopeOf('/v2/ml/a/manifests/v1', 'DELETE')).toBe('repository:ml/a:delete');
    expect(await scopeOf('/v2/ml/a/manifests/v1', 'GET')).toBe('repository:ml/a:pull');
    expect(await scopeOf(`/v2/ml/a/blobs/uploads/?mount=${sha256('x')}&from=ml/src`, 'POST')).toBe(
      'repository:ml/a:pull,push repository:ml/src:pull',
    );
  });

  it('lets a client that takes its scope from the upload challenge read back what it pushed (the @sigstore/oci flow)', async () => {
    const c = new ChallengeFollower(reg.url, 'paul', 'paul-password-123');
    const layer = random(2000);
    const open = await c.fetch('/v2/ml/follow/blobs/uploads/', { method: 'POST' });
    expect(open.status).toBe(202);
    expect(c.scopes).toEqual(['repository:ml/follow:pull,push']);
    const put = await c.fetch(`${open.headers.get('location')}?digest=${sha256(layer)}`, {
      method: 'PUT',
      body: layer,
    });
    expect(put.status).toBe(201);
    expect(
      (await c.fetch(`/v2/ml/follow/blobs/uploads/?digest=${sha256('{}')}`, { method: 'POST', body: '{}' })).status,
    ).toBe(201);
    const manifest = JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: EMPTY_CONFIG,
      layers: [{ mediaType: 'application/octet-stream', digest: sha256(layer), size: layer.length }],
    });
    expect(
      (
        await c.fetch('/v2/ml/follow/manifests/v1', {
          method: 'PUT',
          body: manifest,
          headers: { 'Content-Type': OCI_MANIFEST },
        })
      ).status,
    ).toBe(201);
    // With the one token the upload challenge led to: the manifest and blob it pushed read back.
    const got = await c.fetch('/v2/ml/follow/manifests/v1', { headers: { Accept: OCI_MANIFEST } });
    expect(got.status).toBe(200);
    expect(await got.text()).toBe(manifest);
    expect((await c.fetch(`/v2/ml/follow/blobs/${sha256(layer)}`, { method: 'HEAD' })).status).toBe(200);
    expect(c.scopes).toEqual(['repository:ml/follow:pull,push']);
  });

  it('lets a challenge-following client mount from another repository it may read', async () => {
    const c = new ChallengeFollower(reg.url, 'paul', 'paul-password-123');
    const layer = random(3000);
    const src = await c.fetch(`/v2/ml/source/blobs/uploads/?digest=${sha256(layer)}`, { method: 'POST', body: layer });
    expect(src.status).toBe(201);
    const fresh = new ChallengeFollower(reg.url, 'paul', 'paul-password-123');
    const mount = await fresh.fetch(`/v2/ml/target/blobs/uploads/?mount=${sha256(layer)}&from=ml/source`, {
      method: 'POST',
    });
    // Mounted (201), not a fallback upload (202): the token covered the source's pull.
    expect(mount.status).toBe(201);
    expect(fresh.scopes).toEqual(['repository:ml/target:pull,push repository:ml/source:pull']);
  });

  it('lets a challenge-following client delete with a delete-scoped token', async () => {
    const c = new ChallengeFollower(reg.url, 'paul', 'paul-password-123');
    const data = random(500);
    expect(
      (await c.fetch(`/v2/ml/del/blobs/uploads/?digest=${sha256(data)}`, { method: 'POST', body: data })).status,
    ).toBe(201);
    const d = new ChallengeFollower(reg.url, 'paul', 'paul-password-123');
    expect((await d.fetch(`/v2/ml/del/blobs/${sha256(data)}`, { method: 'DELETE' })).status).toBe(202);
    expect(d.scopes).toEqual(['repository:ml/del:delete']);
  });

  it('serves the public verification keys without a token', async () => {
    const receiptKey = await fetch(`${reg.url}/v2/_cairn/receipts/key`);
    expect(receiptKey.status).toBe(200);
    expect(await receiptKey.text()).toContain('BEGIN PUBLIC KEY');
    const auditKey = await fetch(`${reg.url}/audit/key`);
    expect(auditKey.status).toBe(200);
    expect(((await auditKey.json()) as { algorithm: string }).algorithm).toBe('Ed25519');
    // The rest of the audit API still needs the read-audit permission.
    expect((await fetch(`${reg.url}/audit/checkpoint`)).status).toBe(401);
  });

  it('challenges the audit and admin APIs with a realm a client can fetch a token from (one access check)', async () => {
    for (const path of ['/audit/checkpoint', '/audit/entries', '/admin/users']) {
      const r = await fetch(`${reg.url}${path}`);
      expect(r.status).toBe(401);
      const c = challengeOf(r);
      // Was realm="cairn" on these APIs: no client can fetch a token from that.
      expect(c.realm).toBe(`${reg.url}/token`);
      const t = await fetch(`${c.realm}?service=${c.service}`, {
        headers: { Authorization: `Basic ${Buffer.from('paul:paul-password-123').toString('base64')}` },
      });
      expect(t.status).toBe(200);
      const again = await fetch(`${reg.url}${path}`, {
        headers: { Authorization: `Bearer ${((await t.json()) as { token: string }).token}` },
      });
      // Authenticated now; paul has neither read-audit nor admin, so policy says no (and says why).
      expect(again.status).toBe(403);
      expect(((await again.json()) as { errors: { code: string }[] }).errors[0]!.code).toBe('DENIED');
    }
  });
});
