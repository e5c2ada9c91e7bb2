import { execFileSync, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parsePkcs11Uri } from '../../src/keys/pkcs11-uri';
import { cairn } from '../helpers/cli';
import { serveCairn, stopCairn } from '../helpers/cairn-process';
import { pushModel } from '../helpers/ml-artifacts';
import { softHsmAvailable, startSoftHsm, SOFTHSM_MODULE, type SoftHsm } from '../helpers/softhsm';

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const MARKER = Buffer.from('CAIRN-HSM-PLAINTEXT-MARKER');

async function push(url: string, repo: string, data: Buffer): Promise<Response> {
  return fetch(`${url}/v2/${repo}/blobs/uploads/?digest=${sha256(data)}`, { method: 'POST', body: data });
}

async function anyPlaintext(dir: string): Promise<boolean> {
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile() && (await readFile(path.join(e.parentPath, e.name))).includes(MARKER)) return true;
  }
  return false;
}

const bin = path.join(__dirname, '..', '..', 'bin', 'cairn.js');

/** Reads a key attribute from the token in a process of its own (SoftHSM2 reads its configuration there). */
function keyAttribute(hsm: SoftHsm, label: string, attribute: 'CKA_VALUE' | 'CKA_EXTRACTABLE'): string {
  return keyAttributeOn(hsm, 'cairn-test', label, 'SECRET_KEY', attribute);
}

function keyAttributeOn(
  hsm: SoftHsm,
  token: string,
  label: string,
  keyClass: 'SECRET_KEY' | 'PRIVATE_KEY',
  attribute: 'CKA_VALUE' | 'CKA_EXTRACTABLE',
): string {
  const script = `
    const p = require('pkcs11js'); const m = new p.PKCS11(); m.load(${JSON.stringify(SOFTHSM_MODULE)}); m.C_Initialize();
    const slot = m.C_GetSlotList(true).find((s) => m.C_GetTokenInfo(s).label.trim() === ${JSON.stringify(token)});
    const s = m.C_OpenSession(slot, p.CKF_SERIAL_SESSION); m.C_Login(s, p.CKU_USER, '1234');
    m.C_FindObjectsInit(s, [{ type: p.CKA_LABEL, value: ${JSON.stringify(label)} }, { type: p.CKA_CLASS, value: p.CKO_${keyClass} }]);
    const [k] = m.C_FindObjects(s, 1); m.C_FindObjectsFinal(s);
    try { process.stdout.write(m.C_GetAttributeValue(s, k, [{ type: p.${attribute} }])[0].value.toString('hex')); }
    catch (e) { process.stdout.write('error: ' + e.message); }
    m.C_Finalize();`;
  return execFileSync(process.execPath, ['-e', script], {
    env: { ...process.env, ...hsm.env },
    cwd: path.join(__dirname, '..', '..'),
  }).toString();
}

(softHsmAvailable() ? describe : describe.skip)('encryption at rest with the key in an HSM (SoftHSM2)', () => {
  let hsm: SoftHsm;
  let dir: string;
  let server: { child: ChildProcess; url: string } | undefined;
  let uri: string;
  const data = Buffer.concat(Array.from({ length: 5000 }, () => MARKER));
  const env = () => ({ ...hsm.env, CAIRN_ENCRYPTION_KEY: uri, CAIRN_VERIFIED_TTL: '0' });
  const stop = async () => {
    await stopCairn(server);
    server = undefined;
  };

  beforeAll(async () => {
    hsm = startSoftHsm();
    dir = await mkdtemp(path.join(os.tmpdir(), 'cairn-hsm-data-'));
    const pinFile = path.join(hsm.dir, 'pin');
    await writeFile(pinFile, '1234\n', { mode: 0o600 });
    uri = `pkcs11:token=cairn-test;object=blob-kek?module-path=${SOFTHSM_MODULE}&pin-source=file:${pinFile}`;
  });
  afterAll(async () => {
    await stop();
    await rm(dir, { recursive: true, force: true });
    hsm.cleanup();
  });

  it('makes a non-extractable AES key in the token with `cairn admin keys create-kek`, once', async () => {
    const made = await cairn(['admin', 'keys', 'create-kek', '--pkcs11', uri], {
      ...hsm.env,
      CAIRN_LOG_LEVEL: 'silent',
    });
    expect(made.code).toBe(0);
    const again = await cairn(['admin', 'keys', 'create-kek', '--pkcs11', uri], {
      ...hsm.env,
      CAIRN_LOG_LEVEL: 'silent',
    });
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/already exists/);
    // The key material cannot be read out of the device.
    expect(keyAttribute(hsm, 'blob-kek', 'CKA_VALUE')).toMatch(/^error: .*SENSITIVE/);
    expect(keyAttribute(hsm, 'blob-kek', 'CKA_EXTRACTABLE')).toBe('00');
  });

  it('seals blobs under data keys wrapped in the HSM, readable again after a restart', async () => {
    server = await serveCairn(dir, env());
    expect((await push(server.url, 'hsm/a', data)).status).toBe(201);
    expect(await anyPlaintext(path.join(dir, 'blobs'))).toBe(false);
    await stop();
    server = await serveCairn(dir, env());
    const r = await fetch(`${server.url}/v2/hsm/a/blobs/${sha256(data)}`);
    expect(Buffer.from(await r.arrayBuffer()).equals(data)).toBe(true);
  });

  it('answers 503 and fails /readyz while the HSM is unreachable, then recovers without a restart', async () => {
    await stop();
    // No key kept in memory: every read needs the HSM.
    server = await serveCairn(dir, { ...env(), CAIRN_ENCRYPTION_KEY_CACHE: '0' });
    const url = server.url;
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
    await rename(hsm.tokens, `${hsm.tokens}.gone`);
    try {
      const ready = await fetch(`${url}/readyz`);
      expect(ready.status).toBe(503);
      expect(JSON.stringify(await ready.json())).toMatch(/encryption/);
      const pull = await fetch(`${url}/v2/hsm/a/blobs/${sha256(data)}`);
      expect(pull.status).toBe(503);
      expect(await pull.text()).toMatch(/UNAVAILABLE/);
      const other = Buffer.concat([MARKER, Buffer.from('while the HSM is away')]);
      const pushed = await push(url, 'hsm/a', other);
      expect(pushed.status).toBe(503);
      expect(await anyPlaintext(path.join(dir, 'blobs'))).toBe(false);
    } finally {
      await rename(`${hsm.tokens}.gone`, hsm.tokens);
    }
    const deadline = Date.now() + 20_000;
    while ((await fetch(`${url}/readyz`)).status !== 200) {
      if (Date.now() > deadline) throw new Error('/readyz did not recover within 20 s of the HSM returning');
      await new Promise((r) => setTimeout(r, 500));
    }
    const r = await fetch(`${url}/v2/hsm/a/blobs/${sha256(data)}`);
    expect(Buffer.from(await r.arrayBuffer()).equals(data)).toBe(true);
  });

  it('refuses to start with a wrong PIN or a missing key, naming the key and not the PIN', async () => {
    await stop();
    const start = (key: string) =>
      spawnSync(process.execPath, [bin, 'serve'], {
        env: {
          ...process.env,
          ...hsm.env,
          CAIRN_DATA_DIR: dir,
          CAIRN_AUTH: 'none',
          CAIRN_LISTEN: '127.0.0.1:0',
          CAIRN_ENCRYPTION_KEY: key,
        },
        timeout: 30_000,
      });
    const wrongPin = start(`pkcs11:token=cairn-test;object=blob-kek?module-path=${SOFTHSM_MODULE}&pin-value=999999`);
    expect(wrongPin.status).not.toBe(0);
    const said = wrongPin.stderr.toString() + wrongPin.stdout.toString();
    expect(said).toMatch(/encryption.key: .*pkcs11:token=cairn-test;object=blob-kek.*pin-value=\*\*\*.*PIN_INCORRECT/);
    expect(said).not.toContain('999999');
    const missing = start(`pkcs11:token=cairn-test;object=no-such-key?module-path=${SOFTHSM_MODULE}&pin-value=1234`);
    expect(missing.status).not.toBe(0);
    expect(missing.stderr.toString() + missing.stdout.toString()).toMatch(
      /no such key in the HSM: pkcs11:token=cairn-test;object=no-such-key/,
    );
  });
});

(softHsmAvailable() ? describe : describe.skip)('checkpoints and receipts signed by a key in an HSM (SoftHSM2)', () => {
  let hsm: SoftHsm;
  let dir: string;
  let server: { child: ChildProcess; url: string } | undefined;
  afterAll(async () => {
    await stopCairn(server);
    await rm(dir, { recursive: true, force: true });
    hsm.cleanup();
  });

  it('signs with an Ed25519 key that never leaves the token; clients verify offline as before', async () => {
    hsm = startSoftHsm('cairn-audit');
    dir = await mkdtemp(path.join(os.tmpdir(), 'cairn-hsm-audit-'));
    const uri = `pkcs11:token=cairn-audit;object=registry-signer?module-path=${SOFTHSM_MODULE}&pin-value=1234`;
    const made = await cairn(['audit', 'keygen', '--pkcs11', uri], { ...hsm.env, CAIRN_DATA_DIR: dir });
    expect(made.code).toBe(0);
    const verifier = made.stdout.trim();
    expect(verifier).toMatch(/^cairn\+[0-9a-f]{8}\+/);
    // No key file: the registry signs through the module.
    server = await serveCairn(dir, { ...hsm.env, CAIRN_AUDIT_KEY: uri, CAIRN_AUDIT_RECEIPT_DELAY_MS: '0' });
    const m = await pushModel(server.url, 'hsm/m', 'v1');
    expect(m.status).toBe(201);
    const published = (await (await fetch(`${server.url}/audit/key`)).json()) as { verifierKey: string };
    expect(published.verifierKey).toBe(verifier);
    await expect(readFile(path.join(dir, 'audit-key.pem'))).rejects.toThrow(/ENOENT/);
    // The receipt, checked offline against the published key.
    const keyFile = path.join(dir, 'registry.pub');
    await writeFile(keyFile, await (await fetch(`${server.url}/v2/_cairn/receipts/key`)).text());
    const host = server.url.replace('http://', '');
    let ok = await cairn(['verify', '--registry-key', keyFile, `${host}/hsm/m:v1`]);
    for (let i = 0; i < 40 && ok.code !== 0; i++) {
      await new Promise((r) => setTimeout(r, 250));
      ok = await cairn(['verify', '--registry-key', keyFile, `${host}/hsm/m:v1`]);
    }
    expect(ok.stdout + ok.stderr).toMatch(/inclusion proof verified/);
    expect(ok.code).toBe(0);
    // A checkpoint signed by the device verifies with the verifier key, by `cairn audit verify`.
    let checkpoint = await fetch(`${server.url}/audit/checkpoint`);
    for (let i = 0; i < 40 && checkpoint.status !== 200; i++) {
      await new Promise((r) => setTimeout(r, 250));
      checkpoint = await fetch(`${server.url}/audit/checkpoint`);
    }
    const saved = path.join(dir, 'checkpoint.txt');
    await writeFile(saved, await checkpoint.text());
    const verified = await cairn(['audit', 'verify', '--checkpoint', saved, '--verifier', verifier], {
      ...hsm.env,
      CAIRN_DATA_DIR: dir,
      CAIRN_AUDIT_KEY: uri,
    });
    expect(verified.stdout + verified.stderr).not.toMatch(/fail|mismatch/i);
    expect(verified.code).toBe(0);
    expect(keyAttributeOn(hsm, 'cairn-audit', 'registry-signer', 'PRIVATE_KEY', 'CKA_VALUE')).toMatch(
      /^error: .*SENSITIVE/,
    );
  });
});

(softHsmAvailable() ? describe : describe.skip)('registry tokens signed by a key in an HSM (SoftHSM2)', () => {
  let hsm: SoftHsm;
  let dir: string;
  let server: { child: ChildProcess; url: string } | undefined;
  afterAll(async () => {
    await stopCairn(server);
    await rm(dir, { recursive: true, force: true });
    hsm.cleanup();
  });

  it('issues ES256 tokens the device signs, published in the JWKS, accepted for pushes', async () => {
    hsm = startSoftHsm('cairn-tokens');
    dir = await mkdtemp(path.join(os.tmpdir(), 'cairn-hsm-tokens-'));
    const uri = `pkcs11:token=cairn-tokens;object=token-signer?module-path=${SOFTHSM_MODULE}&pin-value=1234`;
    const made = await cairn(['admin', 'keys', 'create-token-key', '--pkcs11', uri], {
      ...hsm.env,
      CAIRN_DATA_DIR: dir,
      CAIRN_LOG_LEVEL: 'silent',
    });
    expect(made.code).toBe(0);
    const publicJwk = JSON.parse(made.stdout).publicKey as { x: string; y: string };
    server = await serveCairn(dir, { ...hsm.env, CAIRN_AUTH: 'token', CAIRN_TOKEN_SIGNING_KEY: uri });
    const password = (await readFile(path.join(dir, 'admin-password'), 'utf8')).trim();
    const r = await fetch(`${server.url}/token?service=cairn&scope=repository:hsm/t:pull,push`, {
      headers: { Authorization: `Basic ${Buffer.from(`admin:${password}`).toString('base64')}` },
    });
    expect(r.status).toBe(200);
    const { token } = (await r.json()) as { token: string };
    const jwks = (await (await fetch(`${server.url}/auth/jwks.json`)).json()) as { keys: { kid: string; x: string }[] };
    const header = JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString()) as { kid: string };
    const signingJwk = jwks.keys.find((k) => k.kid === header.kid);
    expect(signingJwk?.x).toBe(publicJwk.x);
    const { createLocalJWKSet, jwtVerify } = await import('jose');
    const verified = await jwtVerify(token, createLocalJWKSet(jwks as never), { algorithms: ['ES256'] });
    expect(verified.payload.sub).toBeDefined();
    const data = Buffer.from('a blob pushed with a token an HSM signed');
    const pushed = await fetch(`${server.url}/v2/hsm/t/blobs/uploads/?digest=${sha256(data)}`, {
      method: 'POST',
      body: data,
      headers: { Authorization: `Bearer ${token}` },
    });
    expect(pushed.status).toBe(201);
    expect(keyAttributeOn(hsm, 'cairn-tokens', 'token-signer', 'PRIVATE_KEY', 'CKA_VALUE')).toMatch(
      /^error: .*SENSITIVE/,
    );
  });
});

describe('pkcs11: URIs', () => {
  it('are parsed as RFC 7512 says, with the PIN from a file or a variable and never shown', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'cairn-pin-'));
    await writeFile(path.join(dir, 'pin'), 'secret-pin\n');
    const u = parsePkcs11Uri(
      `pkcs11:token=My%20Token;object=kek;id=%01%ff?module-path=/lib/x.so&pin-source=file:${dir}/pin`,
    );
    expect(u).toMatchObject({ modulePath: '/lib/x.so', token: 'My Token', object: 'kek', pin: 'secret-pin' });
    expect(u.id).toEqual(Buffer.from([1, 255]));
    expect(parsePkcs11Uri('pkcs11:object=k?module-path=/m.so&pin-env=HSM_PIN', { HSM_PIN: '42' }).pin).toBe('42');
    expect(parsePkcs11Uri('pkcs11:object=k?module-path=/m.so&pin-value=1234').display).toBe(
      'pkcs11:object=k?module-path=/m.so&pin-value=***',
    );
    expect(() => parsePkcs11Uri('pkcs11:object=k')).toThrow(/module-path/);
    expect(() => parsePkcs11Uri('pkcs11:token=t?module-path=/m.so')).toThrow(/object=/);
    expect(() => parsePkcs11Uri('pkcs11:object=%zz?module-path=/m.so')).toThrow(/percent-encoded/);
    expect(() => parsePkcs11Uri('pkcs11:object=k?module-path=/m.so&pin-env=NOPE', {})).toThrow(/NOPE is not set/);
    await rm(dir, { recursive: true, force: true });
  });
});
