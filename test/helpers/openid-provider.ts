import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';

/**
 * An OpenID provider on loopback for single sign-on tests: discovery, JWKS, an authorization endpoint
 * that signs in whoever `next` names at once (no login page), and a token endpoint that checks the code,
 * the redirect URI, the client and the PKCE verifier (S256) as a real provider does, each code once.
 */
export async function startOpenIdProvider(clientId: string) {
  const { privateKey, publicKey } = await generateKeyPair('RS256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  const codes = new Map<
    string,
    { redirectUri: string; challenge: string; nonce: string; claims: Record<string, unknown> }
  >();
  const seen = { authorize: [] as URLSearchParams[], token: [] as URLSearchParams[] };
  const state = { next: { preferred_username: 'nina' } as Record<string, unknown> };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', issuer);
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
    };
    if (url.pathname === '/.well-known/openid-configuration')
      return json(200, {
        issuer,
        authorization_endpoint: `${issuer}/authorize`,
        token_endpoint: `${issuer}/token`,
        jwks_uri: `${issuer}/jwks`,
      });
    if (url.pathname === '/jwks') return json(200, { keys: [jwk] });
    if (url.pathname === '/authorize') {
      const q = url.searchParams;
      seen.authorize.push(q);
      if (q.get('client_id') !== clientId || q.get('code_challenge_method') !== 'S256' || !q.get('code_challenge'))
        return json(400, { error: 'invalid_request' });
      const code = randomBytes(16).toString('hex');
      codes.set(code, {
        redirectUri: q.get('redirect_uri')!,
        challenge: q.get('code_challenge')!,
        nonce: q.get('nonce')!,
        claims: state.next,
      });
      const back = new URL(q.get('redirect_uri')!);
      back.searchParams.set('code', code);
      back.searchParams.set('state', q.get('state')!);
      res.writeHead(302, { Location: back.toString() }).end();
      return;
    }
    if (url.pathname === '/token' && req.method === 'POST') {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        void (async () => {
          const f = new URLSearchParams(body);
          seen.token.push(f);
          const c = codes.get(f.get('code') ?? '');
          codes.delete(f.get('code') ?? '');
          const verifier = f.get('code_verifier') ?? '';
          if (
            !c ||
            f.get('grant_type') !== 'authorization_code' ||
            f.get('redirect_uri') !== c.redirectUri ||
            f.get('client_id') !== clientId ||
            createHash('sha256').update(verifier).digest('base64url') !== c.challenge
          )
            return json(400, { error: 'invalid_grant' });
          const idToken = await new SignJWT({ nonce: c.nonce, ...c.claims })
            .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
            .setIssuer(issuer)
            .setAudience(clientId)
            .setSubject(String(c.claims.preferred_username ?? 'someone'))
            .setIssuedAt()
            .setExpirationTime('5m')
            .sign(privateKey);
          json(200, { access_token: 'opaque', token_type: 'Bearer', id_token: idToken });
        })();
      });
      return;
    }
    json(404, {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    issuer,
    seen,
    /** The claims of whoever signs in next. */
    signInAs(claims: Record<string, unknown>) {
      state.next = claims;
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}
