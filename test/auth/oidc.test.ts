import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type KeyLike } from 'jose';
import { random, sha256 } from '../conformance/client';
import { OidcFederation } from '../../src/auth/oidc';
import type { TestRegistry } from '../helpers/server';
import { pushModel } from '../helpers/ml-artifacts';
import { accessOf, bearer, policiesNow, startAuthRegistry, storeOf, token, tokenResponse } from '../helpers/auth';

/** A minimal OpenID provider on loopback: discovery and JWKS, keys made here; it counts what it is asked. */
async function localIssuer(): Promise<{ issuer: string; key: KeyLike; requests: string[]; close(): Promise<void> }> {
  const { privateKey, publicKey } = await generateKeyPair('RS256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'test-key', alg: 'RS256', use: 'sig' };
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    requests.push(req.url ?? '');
    const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    res.setHeader('Content-Type', 'application/json');
    if (req.url === '/.well-known/openid-configuration')
      res.end(JSON.stringify({ issuer, jwks_uri: `${issuer}/jwks` }));
    else if (req.url === '/jwks') res.end(JSON.stringify({ keys: [jwk] }));
    else res.writeHead(404).end('{}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { issuer, key: privateKey, requests, close: () => new Promise((r) => server.close(() => r())) };
}

describe('OIDC federation: CI jobs and Kubernetes service accounts log in with their ID token', () => {
  let reg: TestRegistry;
  let idp: Awaited<ReturnType<typeof localIssuer>>;
  let idToken: (
    claims: Record<string, unknown>,
    o?: { aud?: string; exp?: string | number; key?: KeyLike; iss?: string; sub?: string },
  ) => Promise<string>;
  beforeAll(async () => {
    idp = await localIssuer();
    reg = await startAuthRegistry(undefined, { allowHttpIssuers: true });
    const store = storeOf(reg);
    await store.putOidcRule({
      name: 'gha-main',
      issuer: idp.issuer,
      audience: 'cairn',
      claims: { repository: 'org/models', ref: 'refs/heads/main', workflow: 'release*' },
      groups: ['ci'],
      description: 'release workflow on main',
      disabled: false,
    });
    await store.putOidcRule({
      name: 'k8s-ml',
      issuer: idp.issuer,
      audience: 'cairn',
      claims: { sub: 'system:serviceaccount:ml:*' },
      groups: [],
      description: 'pulls from the ml namespace',
      disabled: false,
    });
    await store.bindRole({ principal: 'oidc:gha-main', role: 'publisher', scope: 'ml/' });
    await store.bindRole({ principal: 'oidc:k8s-ml', role: 'reader', scope: 'ml/' });
    await policiesNow(reg);
    idToken = (claims, o = {}) =>
      new SignJWT(claims)
        .setProtectedHeader({ alg: 'RS256', kid: 'test-key' })
        .setIssuer(o.iss ?? idp.issuer)
        .setAudience(o.aud ?? 'cairn')
        .setSubject(o.sub ?? 'repo:org/models:ref:refs/heads/main')
        .setIssuedAt()
        .setExpirationTime(o.exp ?? '5m')
        .sign(o.key ?? idp.key);
  });
  afterAll(async () => {
    await reg.close();
    await idp.close();
  });

  const gha = { repository: 'org/models', ref: 'refs/heads/main', workflow: 'release-models' };

  it("maps a matching GitHub-style ID token to its rule's identity and roles, with no secret in CI", async () => {
    const t = await token(reg.url, 'oidc', await idToken(gha), ['repository:ml/ci:pull,push']);
    expect(accessOf(t)[0]!.actions).toEqual(['pull', 'push']);
    const claims = JSON.parse(Buffer.from(t.split('.')[1]!, 'base64url').toString());
    expect(claims).toMatchObject({
      sub: 'oidc:gha-main',
      kind: 'federated',
      grp: ['ci'],
      fed: { iss: idp.issuer, sub: 'repo:org/models:ref:refs/heads/main' },
    });
    const blob = random(1000);
    expect(
      (
        await fetch(`${reg.url}/v2/ml/ci/blobs/uploads/?digest=${sha256(blob)}`, {
          method: 'POST',
          body: blob,
          headers: bearer(t),
        })
      ).status,
    ).toBe(201);
    expect(idp.requests).toEqual(expect.arrayContaining(['/.well-known/openid-configuration', '/jwks']));
  });

  it('enriches the provenance of what a CI job pushes with the claims of its ID token', async () => {
    const ci = {
      ...gha,
      sha: '0123abcd',
      run_id: '4242',
      workflow_ref: 'org/models/.github/workflows/release.yml@refs/heads/main',
      actor: 'octocat',
    };
    const t = await token(reg.url, 'oidc', await idToken(ci), ['repository:ml/provenance:pull,push']);
    const pushed = await pushModel(
      reg.url,
      'ml/provenance',
      'v1',
      { 'org.cairn.metrics': '{"accuracy":0.9}' },
      bearer(t),
    );
    expect(pushed.status).toBe(201);
    const a = (await (
      await fetch(`${reg.url}/v2/ml/provenance/_cairn/artifacts/v1`, { headers: bearer(t) })
    ).json()) as { pushedBy: string; metadata: Record<string, unknown> };
    expect(a.pushedBy).toBe('oidc:gha-main');
    expect(a.metadata.ci).toMatchObject({
      iss: idp.issuer,
      sub: 'repo:org/models:ref:refs/heads/main',
      repository: 'org/models',
      sha: '0123abcd',
      run_id: '4242',
      workflow_ref: ci.workflow_ref,
      actor: 'octocat',
    });
    // Not stated in the annotations, so taken from the CI identity.
    expect(a.metadata.trainingCode).toEqual({ repository: 'org/models', commit: '0123abcd' });
    expect(a.metadata.pipeline).toEqual({ id: '4242' });
    // What the publisher states wins over the claims.
    const stated = await pushModel(
      reg.url,
      'ml/provenance',
      'v2',
      { 'org.cairn.training.commit': 'feedbeef' },
      bearer(t),
    );
    expect(stated.status).toBe(201);
    const b = (await (
      await fetch(`${reg.url}/v2/ml/provenance/_cairn/artifacts/v2`, { headers: bearer(t) })
    ).json()) as { metadata: Record<string, unknown> };
    expect(b.metadata.trainingCode).toEqual({ repository: 'org/models', commit: 'feedbeef' });
  });

  it('maps a Kubernetes service-account token to read access', async () => {
    const t = await token(reg.url, 'oidc', await idToken({}, { sub: 'system:serviceaccount:ml:inference' }), [
      'repository:ml/ci:pull,push',
    ]);
    expect(accessOf(t)[0]!.actions).toEqual(['pull']);
  });

  it.each([
    ['another branch', () => idToken({ ...gha, ref: 'refs/heads/dev' }, { sub: 'repo:org/models:ref:refs/heads/dev' })],
    ['another repository', () => idToken({ ...gha, repository: 'org/other' })],
    ['another audience', () => idToken(gha, { aud: 'someone-else' })],
    ['an expired token', () => idToken(gha, { exp: Math.floor(Date.now() / 1000) - 120 })],
    [
      'a key the issuer does not publish',
      async () => idToken(gha, { key: (await generateKeyPair('RS256')).privateKey }),
    ],
    ['garbage', async () => 'not.a.jwt'],
  ])('refuses %s', async (_what, make) => {
    expect((await tokenResponse(reg.url, 'oidc', await make(), ['repository:ml/ci:pull'])).status).toBe(401);
  });

  it('never contacts an issuer no rule names', async () => {
    const stranger = await localIssuer();
    try {
      const t = await new SignJWT(gha)
        .setProtectedHeader({ alg: 'RS256', kid: 'test-key' })
        .setIssuer(stranger.issuer)
        .setAudience('cairn')
        .setSubject('x')
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(stranger.key);
      expect((await tokenResponse(reg.url, 'oidc', t, [])).status).toBe(401);
      expect(stranger.requests).toEqual([]);
    } finally {
      await stranger.close();
    }
  });

  it("stops a federated identity's tokens when its rule is removed", async () => {
    const t = await token(reg.url, 'oidc', await idToken(gha), ['repository:ml/ci:pull']);
    expect((await fetch(`${reg.url}/v2/ml/ci/tags/list`, { headers: bearer(t) })).status).not.toBe(401);
    await storeOf(reg).deleteOidcRule('gha-main');
    await new Promise((r) => setTimeout(r, 1100));
    expect((await fetch(`${reg.url}/v2/ml/ci/tags/list`, { headers: bearer(t) })).status).toBe(401);
  });

  it('refuses plain-http issuers unless allowed', async () => {
    const strict = new OidcFederation(storeOf(reg), { allowHttpIssuers: false });
    await expect(strict.verify(await idToken({}, { sub: 'system:serviceaccount:ml:x' }))).rejects.toThrow(/not https/);
  });
});
