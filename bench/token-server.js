'use strict';
/**
 * A token server for CNCF Distribution in the benchmark, as registries meet one in production (Docker's
 * token authentication): ES256 JWTs whose `x5c` header carries a self-signed certificate that
 * Distribution's `auth.token.rootcertbundle` trusts. It grants whatever scope is asked: it stands for
 * the cost Distribution pays per request (verifying the token), not for a policy.
 */
const { execFileSync } = require('node:child_process');
const { createPrivateKey, randomUUID, sign } = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');

const b64url = (b) => Buffer.from(b).toString('base64url');

function startTokenServer(port, dir, { service, issuer }) {
  const keyFile = path.join(dir, 'token-key.pem');
  const certFile = path.join(dir, 'token-cert.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      keyFile,
      '-out',
      certFile,
      '-days',
      '2',
      '-subj',
      '/CN=bench-token-server',
    ],
    { stdio: 'ignore' },
  );
  const key = createPrivateKey(fs.readFileSync(keyFile));
  const der = fs
    .readFileSync(certFile, 'utf8')
    .replace(/-----(BEGIN|END) CERTIFICATE-----/g, '')
    .replace(/\s+/g, '');
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://localhost');
    const access = url.searchParams.getAll('scope').flatMap((scope) => {
      const [type, name, actions] = scope.split(':');
      return type && name && actions ? [{ type, name, actions: actions.split(',') }] : [];
    });
    const now = Math.floor(Date.now() / 1000);
    const header = b64url(JSON.stringify({ alg: 'ES256', typ: 'JWT', x5c: [der] }));
    const payload = b64url(
      JSON.stringify({
        iss: issuer,
        sub: 'bench',
        aud: service,
        exp: now + 3600,
        nbf: now - 5,
        iat: now,
        jti: randomUUID(),
        access,
      }),
    );
    const signature = sign('sha256', Buffer.from(`${header}.${payload}`), { key, dsaEncoding: 'ieee-p1363' });
    const token = `${header}.${payload}.${b64url(signature)}`;
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify({ token, access_token: token, expires_in: 3600 }));
  });
  // The benchmark ends when its work does: the token server does not hold it open.
  server.unref();
  return new Promise((resolve) =>
    server.listen(port, '127.0.0.1', () =>
      resolve({
        realm: `http://127.0.0.1:${port}/token`,
        certFile,
        close: () => new Promise((r) => server.close(r)),
      }),
    ),
  );
}

module.exports = { startTokenServer };
