import { stat } from 'node:fs/promises';
import path from 'node:path';
import { SignJWT, base64url } from 'jose';
import { random, sha256, OCI_MANIFEST, EMPTY_CONFIG } from '../conformance/client';
import { issueSecret } from '../../src/auth/secrets';
import type { TestRegistry } from '../helpers/server';
import {
  accessOf,
  addUser,
  adminPassword,
  basic,
  bearer,
  policiesNow,
  startAuthRegistry,
  storeOf,
  token,
  tokenResponse,
} from '../helpers/auth';

async function pushBlob(base: string, repo: string, data: Buffer, auth: Record<string, string>): Promise<Response> {
  return fetch(`${base}/v2/${repo}/blobs/uploads/?digest=${sha256(data)}`, {
    method: 'POST',
    body: data,
    headers: auth,
  });
}

async function pushImage(base: string, repo: string, tag: string, auth: Record<string, string>): Promise<Response> {
  const layer = random(1000);
  expect((await pushBlob(base, repo, layer, auth)).status).toBe(201);
  expect((await pushBlob(base, repo, Buffer.from('{}'), auth)).status).toBe(201);
  const manifest = JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: EMPTY_CONFIG,
    layers: [{ mediaType: 'application/octet-stream', digest: sha256(layer), size: 1000 }],
  });
  return fetch(`${base}/v2/${repo}/manifests/${tag}`, {
    method: 'PUT',
    body: manifest,
    headers: { ...auth, 'Content-Type': OCI_MANIFEST },
  });
}

describe('the Docker / OCI token flow', () => {
  let reg: TestRegistry;
  let base: string;
  let adminPw: string;
  beforeAll(async () => {
    reg = await startAuthRegistry();
    base = reg.url;
    adminPw = await adminPassword(reg);
    await addUser(reg, 'rita', 'rita-password-123', [], [['reader', 'ml/']]);
    await addUser(reg, 'paul', 'paul-password-123', ['ml-team'], []);
    await storeOf(reg).bindRole({ principal: 'group:ml-team', role: 'publisher', scope: 'ml/' });
    await policiesNow(reg);
  });
  afterAll(async () => reg.close());

  it('creates an admin with a random password kept 0600 under the data directory, and nothing is open', async () => {
    expect(adminPw).toMatch(/^[A-Za-z0-9]{24}$/);
    expect((await stat(path.join(reg.dataDir, 'admin-password'))).mode & 0o777).toBe(0o600);
    const r = await fetch(`${base}/v2/`);
    expect(r.status).toBe(401);
    expect(r.headers.get('www-authenticate')).toBe(`Bearer realm="${base}/token",service="cairn"`);
    const m = await fetch(`${base}/v2/ml/bert/manifests/latest`);
    expect(m.status).toBe(401);
    expect(m.headers.get('www-authenticate')).toContain('scope="repository:ml/bert:pull"');
    expect(((await m.json()) as { errors: { code: string }[] }).errors[0]!.code).toBe('UNAUTHORIZED');
    const anon = await tokenResponse(base, undefined, undefined, ['repository:ml/bert:pull,push']);
    expect(anon.status).toBe(200);
    expect(accessOf(((await anon.json()) as { token: string }).token)).toEqual([
      { type: 'repository', name: 'ml/bert', actions: [] },
    ]);
  });

  it('issues a short-lived ES256 token with a kid carrying only what policy grants, and it works', async () => {
    const r = await tokenResponse(base, 'admin', adminPw, ['repository:ml/bert:pull,push']);
    expect(r.status).toBe(200);
    const body = (await r.json()) as { token: string; access_token: string; expires_in: number; issued_at: string };
    expect(body.access_token).toBe(body.token);
    expect(body.expires_in).toBe(300);
    const header = JSON.parse(Buffer.from(body.token.split('.')[0]!, 'base64url').toString());
    expect(header).toMatchObject({ alg: 'ES256', typ: 'JWT' });
    expect(header.kid).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(accessOf(body.token)).toEqual([{ type: 'repository', name: 'ml/bert', actions: ['pull', 'push'] }]);
    expect((await pushImage(base, 'ml/bert', 'v1', bearer(body.token))).status).toBe(201);
    expect(
      (await fetch(`${base}/v2/ml/bert/manifests/v1`, { headers: { ...bearer(body.token), Accept: OCI_MANIFEST } }))
        .status,
    ).toBe(200);
    expect((await fetch(`${base}/v2/`, { headers: bearer(body.token) })).status).toBe(200);
    const jwks = (await (await fetch(`${base}/auth/jwks.json`)).json()) as { keys: { kid: string; kty: string }[] };
    expect(jwks.keys.map((k) => k.kid)).toContain(header.kid);
  });

  it('grants a reader pull only; its push is DENIED, and a token for another repository does not carry over', async () => {
    const t = await token(base, 'rita', 'rita-password-123', [
      'repository:ml/bert:pull,push',
      'repository:vision/x:pull',
    ]);
    expect(accessOf(t)).toEqual([
      { type: 'repository', name: 'ml/bert', actions: ['pull'] },
      { type: 'repository', name: 'vision/x', actions: [] },
    ]);
    expect(
      (await fetch(`${base}/v2/ml/bert/manifests/v1`, { headers: { ...bearer(t), Accept: OCI_MANIFEST } })).status,
    ).toBe(200);
    const denied = await pushBlob(base, 'ml/bert', random(10), bearer(t));
    expect(denied.status).toBe(403);
    expect(((await denied.json()) as { errors: { code: string }[] }).errors[0]!.code).toBe('DENIED');
    // Policy allows rita to pull ml/other, but this token was not issued for it: ask for a new one.
    const other = await fetch(`${base}/v2/ml/other/tags/list`, { headers: bearer(t) });
    expect(other.status).toBe(401);
    expect(other.headers.get('www-authenticate')).toContain('error="insufficient_scope"');
    expect(other.headers.get('www-authenticate')).toContain('scope="repository:ml/other:pull"');
  });

  it('grants through group membership; a group outsider gets nothing', async () => {
    const t = await token(base, 'paul', 'paul-password-123', ['repository:ml/paul:push,pull']);
    expect(accessOf(t)[0]!.actions).toEqual(['push', 'pull']);
    expect((await pushImage(base, 'ml/paul', 'v1', bearer(t))).status).toBe(201);
    const v = await token(base, 'paul', 'paul-password-123', ['repository:vision/paul:push,pull']);
    expect(accessOf(v)[0]!.actions).toEqual([]);
  });

  it('refuses wrong passwords, unknown users, tampered, alg:none, foreign-key and expired tokens', async () => {
    for (const [u, p] of [
      ['admin', 'wrong'],
      ['nobody', 'whatever'],
      ['', ''],
      ['admin', ''],
    ]) {
      const r = await tokenResponse(base, u, p, ['repository:ml/bert:pull']);
      expect(r.status).toBe(401);
      expect(r.headers.get('www-authenticate')).toBe('Basic realm="cairn"');
      expect(JSON.stringify(await r.json())).not.toMatch(/exist|wrong/);
    }
    const good = await token(base, 'admin', adminPw, ['repository:ml/bert:pull']);
    const [h, p, s] = good.split('.');
    const get = (t: string) => fetch(`${base}/v2/ml/bert/tags/list`, { headers: bearer(t) });
    expect((await get(good)).status).toBe(200);
    // A payload edited to grant more: the signature no longer matches.
    const payload = JSON.parse(Buffer.from(p!, 'base64url').toString());
    payload.access[0].actions.push('delete');
    const tampered = `${h}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.${s}`;
    const r1 = await get(tampered);
    expect(r1.status).toBe(401);
    expect(r1.headers.get('www-authenticate')).toContain('error="invalid_token"');
    // alg: none
    const none = `${base64url.encode(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${p}.`;
    expect((await get(none)).status).toBe(401);
    // HS256 with the public key as the secret (the classic confusion)
    const hs = await new SignJWT(payload)
      .setProtectedHeader({ alg: 'HS256', kid: JSON.parse(Buffer.from(h!, 'base64url').toString()).kid })
      .sign(new TextEncoder().encode('secret'));
    expect((await get(hs)).status).toBe(401);
    // Garbage and a Basic header on /v2
    expect((await get('not-a-token')).status).toBe(401);
    expect(
      (await fetch(`${base}/v2/ml/bert/tags/list`, { headers: { Authorization: basic('admin', adminPw) } })).status,
    ).toBe(401);
    // Signed by the registry's own key but expired
    const signing = await reg.registry.auth!.keys.signingKey();
    if (!('key' in signing)) throw new Error('a database key was expected');
    const { kid, key } = signing;
    const now = Math.floor(Date.now() / 1000);
    const expired = await new SignJWT({ ...payload, exp: now - 60, iat: now - 400, nbf: now - 400 })
      .setProtectedHeader({ alg: 'ES256', kid })
      .sign(key);
    const r2 = await get(expired);
    expect(r2.status).toBe(401);
    expect(((await r2.json()) as { errors: { message: string }[] }).errors[0]!.message).toMatch(/expired/);
    // For another audience
    const foreign = await new SignJWT({ ...payload, aud: 'other-registry' })
      .setProtectedHeader({ alg: 'ES256', kid })
      .sign(key);
    expect((await get(foreign)).status).toBe(401);
  });

  it("stops a disabled user's tokens within the revocation check interval", async () => {
    await addUser(reg, 'dora', 'dora-password-123', [], [['reader', 'ml/']]);
    const t = await token(base, 'dora', 'dora-password-123', ['repository:ml/bert:pull']);
    expect((await fetch(`${base}/v2/ml/bert/tags/list`, { headers: bearer(t) })).status).toBe(200);
    await storeOf(reg).updateUser('dora', { disabled: true });
    const until = Date.now() + 5000;
    let status = 200;
    while (status === 200 && Date.now() < until) {
      await new Promise((r) => setTimeout(r, 200));
      status = (await fetch(`${base}/v2/ml/bert/tags/list`, { headers: bearer(t) })).status;
    }
    expect(status).toBe(401);
    expect((await tokenResponse(base, 'dora', 'dora-password-123', [])).status).toBe(401);
  });

  it('logs robots in with their secret; an expired or rotated secret stops working', async () => {
    const store = storeOf(reg);
    const secret = issueSecret('robot');
    await store.createRobot({ name: 'ci', secretHash: secret.hash, groups: [], disabled: false, description: 'CI' });
    await store.bindRole({ principal: 'robot:ci', role: 'publisher', scope: 'ml/models/' });
    await policiesNow(reg);
    const t = await token(base, 'robot$ci', secret.secret, ['repository:ml/models/x:push,pull']);
    expect(accessOf(t)[0]!.actions).toEqual(['push', 'pull']);
    expect((await pushImage(base, 'ml/models/x', 'v1', bearer(t))).status).toBe(201);
    expect((await tokenResponse(base, 'robot$ci', 'cairn_robot_wrong', [])).status).toBe(401);
    const rotated = issueSecret('robot');
    await store.updateRobot('ci', { secretHash: rotated.hash });
    expect((await tokenResponse(base, 'robot$ci', secret.secret, [])).status).toBe(401);
    expect((await tokenResponse(base, 'robot$ci', rotated.secret, [])).status).toBe(200);
    await store.updateRobot('ci', { expiresAt: Date.now() - 1 });
    expect((await tokenResponse(base, 'robot$ci', rotated.secret, [])).status).toBe(401);
  });

  it('issues refresh tokens with the OAuth2 POST form and exchanges them', async () => {
    const form = (f: Record<string, string>) =>
      fetch(`${base}/token`, {
        method: 'POST',
        body: new URLSearchParams(f),
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      });
    const r = await form({
      grant_type: 'password',
      username: 'rita',
      password: 'rita-password-123',
      service: 'cairn',
      scope: 'repository:ml/bert:pull',
      access_type: 'offline',
      client_id: 'test',
    });
    expect(r.status).toBe(200);
    const body = (await r.json()) as { token: string; refresh_token: string };
    expect(body.refresh_token).toMatch(/^cairn_rt_/);
    const again = await form({
      grant_type: 'refresh_token',
      refresh_token: body.refresh_token,
      service: 'cairn',
      scope: 'repository:ml/bert:pull',
    });
    expect(again.status).toBe(200);
    expect(accessOf(((await again.json()) as { token: string }).token)[0]!.actions).toEqual(['pull']);
    expect(
      (await form({ grant_type: 'refresh_token', refresh_token: 'cairn_rt_AAAAAAAAAAAA_bad', service: 'cairn' }))
        .status,
    ).toBe(401);
    expect((await form({ grant_type: 'client_credentials', service: 'cairn' })).status).toBe(400);
    expect(
      (await form({ grant_type: 'password', username: 'rita', password: 'rita-password-123', service: 'other' }))
        .status,
    ).toBe(400);
  });

  it('answers malformed scopes and names with clear 400s, never a 500', async () => {
    for (const scope of ['nonsense', 'repository:UPPER/case:pull', 'repository::pull']) {
      const r = await tokenResponse(base, 'admin', adminPw, [scope]);
      expect(r.status).toBe(400);
    }
    const r = await fetch(`${base}/auth/tokens`, {
      method: 'POST',
      body: '{not json',
      headers: { 'Content-Type': 'application/json', Authorization: basic('rita', 'rita-password-123') },
    });
    expect(r.status).toBe(400);
  });
});
