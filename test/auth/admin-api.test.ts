import { newTotpSecret, totpNow } from '../../src/auth/totp';
import type { TestRegistry } from '../helpers/server';
import { addUser, adminPassword, basic, bearer, startAuthRegistry, storeOf, token } from '../helpers/auth';

type Json = Record<string, any>;

describe('the administration API the console uses: users, robots, roles, labels, keys, the policy test', () => {
  let reg: TestRegistry;
  let admin: Record<string, string>;
  const call = async (method: string, path: string, body?: unknown, headers = admin) => {
    const r = await fetch(`${reg.url}${path}`, {
      method,
      headers: { ...headers, 'Content-Type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await r.text();
    return { status: r.status, body: (text ? JSON.parse(text) : {}) as Json };
  };

  beforeAll(async () => {
    reg = await startAuthRegistry();
    // An MFA session: a personal access token minted with the password and a TOTP code.
    const secret = newTotpSecret();
    await storeOf(reg).updateUser('admin', { totpSecret: secret, totpEnabled: true });
    const pat = await fetch(`${reg.url}/auth/tokens`, {
      method: 'POST',
      headers: {
        Authorization: basic('admin', await adminPassword(reg)),
        'X-Cairn-OTP': await totpNow(secret),
        'Content-Type': 'application/json',
      },
      body: '{}',
    });
    admin = bearer(await token(reg.url, 'admin', ((await pat.json()) as { token: string }).token, []));
    await addUser(reg, 'alice', 'alice-password-1234', [], [['maintainer', 'ml/']]);
  });
  afterAll(async () => reg.close());

  it('refuses a session without MFA, whatever it asks', async () => {
    const plain = bearer(await token(reg.url, 'alice', 'alice-password-1234', []));
    for (const [method, path, body] of [
      ['GET', '/admin/roles'],
      ['POST', '/admin/users', { name: 'x' }],
      ['POST', '/admin/policy/test', { principal: 'user:alice', action: 'pull', resource: 'ml/a' }],
    ] as const) {
      const r = await call(method, path, body, plain);
      expect(r.status).toBe(403);
      expect(r.body.errors[0].code).toBe('DENIED');
    }
  });

  it('creates users and robots once, with their secret shown once, and says why a bad request is refused', async () => {
    const u = await call('POST', '/admin/users', { name: 'gina', groups: ['ml-team'] });
    expect(u.status).toBe(201);
    expect(u.body.password.length).toBeGreaterThanOrEqual(16);
    expect((await token(reg.url, 'gina', u.body.password, [])).length).toBeGreaterThan(20);
    expect((await call('POST', '/admin/users', { name: 'gina' })).body.errors[0].code).toBe('CONFLICT');
    for (const bad of [{ name: 'Gina!' }, { name: 'g', groups: 'ml' }, {}])
      expect((await call('POST', '/admin/users', bad)).body.errors[0].code).toBe('PARAMETER_INVALID');

    const robot = await call('POST', '/admin/robots', { name: 'ci', groups: [], expiresInDays: 30 });
    expect(robot.status).toBe(201);
    expect((await token(reg.url, 'robot$ci', robot.body.secret, [])).length).toBeGreaterThan(20);
    expect((await call('POST', '/admin/robots', { name: 'ci2', expiresInDays: 0 })).status).toBe(400);
    expect((await call('POST', '/admin/robots/ci/disable')).status).toBe(200);
    expect((await call('GET', '/admin/robots')).body.robots).toEqual([
      expect.objectContaining({ name: 'ci', user: 'robot$ci', disabled: true }),
    ]);
    expect((await call('POST', '/admin/users/nobody/disable')).status).toBe(404);
  });

  it('binds and unbinds roles, and the policy test answers as the registry then decides', async () => {
    await call('POST', '/admin/users', { name: 'hal' });
    const ask = async () =>
      (await call('POST', '/admin/policy/test', { principal: 'user:hal', action: 'pull', resource: 'ml/bert' })).body;
    expect((await ask()).decision).toBe('deny');
    expect((await call('POST', '/admin/roles', { principal: 'user:hal', role: 'reader', scope: 'ml/' })).status).toBe(
      201,
    );
    expect(await ask()).toMatchObject({ decision: 'allow', policies: [expect.stringMatching(/reader/)] });
    expect((await call('GET', '/admin/roles')).body.bindings).toContainEqual({
      principal: 'user:hal',
      role: 'reader',
      scope: 'ml/',
    });
    expect((await call('DELETE', '/admin/roles', { principal: 'user:hal', role: 'reader', scope: 'ml/' })).status).toBe(
      204,
    );
    expect((await ask()).decision).toBe('deny');
    expect(
      (await call('POST', '/admin/roles', { principal: 'hal', role: 'reader', scope: 'ml/' })).body.errors[0].code,
    ).toBe('PARAMETER_INVALID');
    expect(
      (await call('POST', '/admin/policy/test', { principal: 'user:hal', action: 'fly', resource: 'ml/' })).status,
    ).toBe(400);
    // Administration itself needs MFA: the policy test says so for a question without it.
    expect(
      (await call('POST', '/admin/policy/test', { principal: 'user:admin', action: 'admin', resource: '*' })).body,
    ).toMatchObject({ decision: 'deny', policies: ['admin-requires-mfa'] });
    expect(
      (await call('POST', '/admin/policy/test', { principal: 'user:admin', action: 'admin', resource: '*', mfa: true }))
        .body.decision,
    ).toBe('allow');
  });

  it('sets labels, lists OIDC rules and signing keys (public halves only), and audits every change', async () => {
    expect((await call('PUT', '/admin/labels', { name: 'ml/', sensitivity: 'restricted' })).status).toBe(200);
    expect((await call('PUT', '/admin/labels', { name: '*', sensitivity: 'x' })).status).toBe(400);
    expect((await call('GET', '/admin/labels')).body.labels).toContainEqual(
      expect.objectContaining({ name: 'ml/', sensitivity: 'restricted' }),
    );
    expect((await call('GET', '/admin/oidc')).body.rules).toEqual([]);
    const rule = {
      name: 'gha',
      issuer: 'https://token.actions.githubusercontent.com',
      claims: { repository: 'org/m' },
    };
    expect((await call('POST', '/admin/oidc', rule)).status).toBe(201);
    expect((await call('POST', '/admin/oidc', { ...rule, claims: {} })).body.errors[0].message).toMatch(
      /at least one claim/,
    );
    expect((await call('POST', '/admin/oidc', { ...rule, issuer: 'http://idp.example' })).status).toBe(400);
    expect((await call('GET', '/admin/oidc')).body.rules).toEqual([
      expect.objectContaining({ name: 'gha', audience: 'cairn', claims: { repository: 'org/m' } }),
    ]);
    expect((await call('DELETE', '/admin/oidc/gha')).status).toBe(204);
    expect((await call('DELETE', '/admin/oidc/gha')).status).toBe(404);

    // A rotation: new tokens carry the new key; one signed before still works until it expires.
    const before = admin;
    const rotated = await call('POST', '/admin/keys/rotate');
    expect(rotated.status).toBe(201);
    const kidOf = (t: string) => JSON.parse(Buffer.from(t.split('.')[0]!, 'base64url').toString()).kid;
    const fresh = await token(reg.url, 'alice', 'alice-password-1234', []);
    expect(kidOf(fresh)).toBe(rotated.body.kid);
    expect((await call('GET', '/admin/keys', undefined, before)).status).toBe(200);
    const keys = (await call('GET', '/admin/keys')).body.keys as Json[];
    expect(keys.length).toBeGreaterThan(0);
    expect(JSON.stringify(keys)).not.toMatch(/PRIVATE|privatePem/);
    await reg.registry.audit.flush();
    const types = (await reg.registry.audit.search({ identity: 'user:admin' })).map((e) => e.type);
    expect(types).toEqual(
      expect.arrayContaining([
        'admin.users.add',
        'admin.robots.add',
        'admin.roles.bind',
        'admin.roles.unbind',
        'admin.labels.set',
      ]),
    );
  });
});
