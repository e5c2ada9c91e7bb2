import { execFileSync } from 'node:child_process';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { startTestRegistry, type TestRegistry } from '../helpers/server';
import { ConfigError, validateConfig } from '../../src/config/config';
import { startRegistry } from '../../src/app';

/** A self-signed certificate for 127.0.0.1 made by openssl; returns the PEM file paths. */
function makeCert(dir: string, name: string): { cert: string; key: string } {
  const cert = path.join(dir, `${name}.crt`);
  const key = path.join(dir, `${name}.key`);
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-days',
      '1',
      '-subj',
      `/CN=${name}`,
      '-addext',
      'subjectAltName=IP:127.0.0.1',
      '-keyout',
      key,
      '-out',
      cert,
    ],
    { stdio: 'ignore' },
  );
  return { cert, key };
}

function get(url: string, ca: Buffer | string): Promise<{ status: number; subject: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(url, { ca, agent: false }, (res) => {
      const subject = String((res.socket as import('node:tls').TLSSocket).getPeerCertificate().subject?.CN ?? '');
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, subject }));
    });
    req.on('error', reject);
  });
}

describe('serving HTTPS directly', () => {
  let dir: string;
  let reg: TestRegistry;
  let live: { cert: string; key: string };
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'cairn-tls-'));
    const first = makeCert(dir, 'first');
    live = { cert: path.join(dir, 'live.crt'), key: path.join(dir, 'live.key') };
    await copyFile(first.cert, live.cert);
    await copyFile(first.key, live.key);
    reg = await startTestRegistry(
      { database: 'sqlite', sessions: 'memory' },
      { tls: { certFile: live.cert, keyFile: live.key, reloadIntervalSeconds: 1 } },
    );
  });
  afterAll(async () => {
    await reg.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('answers the API over TLS with the configured certificate', async () => {
    expect(reg.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const r = await get(`${reg.url}/v2/`, await readFile(live.cert));
    expect(r).toEqual({ status: 200, subject: 'first' });
  });

  it('picks up a renewed certificate without a restart, and keeps the old one when the new pair is broken', async () => {
    const second = makeCert(dir, 'second');
    await copyFile(second.key, live.key);
    await copyFile(second.cert, live.cert);
    const ca = await readFile(second.cert);
    const until = Date.now() + 30_000;
    let seen = '';
    while (Date.now() < until && seen !== 'second') {
      await new Promise((r) => setTimeout(r, 300));
      seen = await get(`${reg.url}/v2/`, ca).then(
        (r) => r.subject,
        () => '',
      );
    }
    expect(seen).toBe('second');
    // A half-written renewal (garbage certificate) must not take the listener down.
    await writeFile(live.cert, 'not a certificate');
    await new Promise((r) => setTimeout(r, 2500));
    expect(await get(`${reg.url}/v2/`, ca)).toEqual({ status: 200, subject: 'second' });
  });

  it('refuses to start on unreadable or mismatched files, naming them', async () => {
    const a = makeCert(dir, 'a');
    const b = makeCert(dir, 'b');
    const base = { listen: '127.0.0.1:0', dataDir: path.join(dir, 'data'), log: { level: 'silent' as const } };
    await expect(
      startRegistry(validateConfig({ ...base, tls: { certFile: path.join(dir, 'missing.crt'), keyFile: a.key } })),
    ).rejects.toThrow(/tls.certFile: cannot read .*missing.crt/);
    await expect(startRegistry(validateConfig({ ...base, tls: { certFile: a.cert, keyFile: b.key } }))).rejects.toThrow(
      ConfigError,
    );
    expect(() => validateConfig({ ...base, tls: { certFile: a.cert } })).toThrow(/tls.keyFile/);
  });
});
