import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './ports';

const readText = (file: string) => readFileSync(file, 'utf8');

/** A private CA and a server certificate it issued for 127.0.0.1 and localhost, as PEM files. */
export interface TestCertificates {
  caFile: string;
  certFile: string;
  keyFile: string;
  /** Another CA that issued nothing here: trusting it instead must fail the handshake. */
  otherCaFile: string;
}

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Made with the openssl CLI (Debian's openssl, which .ci/run installs). */
export function makeCertificates(dir: string): TestCertificates {
  mkdirSync(dir, { recursive: true });
  const ca = (name: string) =>
    openssl(
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-days',
        '2',
        '-subj',
        `/CN=${name}`,
        '-keyout',
        `${name}.key`,
        '-out',
        `${name}.pem`,
      ],
      dir,
    );
  ca('cairn-test-ca');
  ca('cairn-other-ca');
  writeFileSync(path.join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  openssl(
    [
      'req',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-subj',
      '/CN=127.0.0.1',
      '-keyout',
      'server.key',
      '-out',
      'server.csr',
    ],
    dir,
  );
  openssl(
    [
      'x509',
      '-req',
      '-in',
      'server.csr',
      '-CA',
      'cairn-test-ca.pem',
      '-CAkey',
      'cairn-test-ca.key',
      '-CAcreateserial',
      '-days',
      '2',
      '-extfile',
      'san.ext',
      '-out',
      'server.pem',
    ],
    dir,
  );
  return {
    caFile: path.join(dir, 'cairn-test-ca.pem'),
    certFile: path.join(dir, 'server.pem'),
    keyFile: path.join(dir, 'server.key'),
    otherCaFile: path.join(dir, 'cairn-other-ca.pem'),
  };
}

export interface Endpoint {
  port: number;
  stop(): Promise<void>;
}

async function waitFor(check: () => boolean | Promise<boolean>, what: string, ms = 30_000): Promise<void> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not start within ${ms / 1000} s`);
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
  });
}

function pgBin(tool: string): string {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).sort((a, b) => Number(b) - Number(a)) : [];
  for (const v of versions) if (existsSync(path.join(root, v, 'bin', tool))) return path.join(root, v, 'bin', tool);
  throw new Error(`no PostgreSQL server binaries (${tool}) under ${root}: install postgresql`);
}

/**
 * A PostgreSQL server of its own on loopback that accepts only TLS connections (`hostssl`, and a
 * `hostnossl … reject` line), trust authentication for user postgres. As root, the cluster belongs to
 * the postgres user, as PostgreSQL requires.
 */
export async function startTlsPostgres(certs: TestCertificates): Promise<Endpoint> {
  // Its own directory under /tmp: the postgres user must be able to reach it, which a test's private
  // temporary directory (mode 0700, root's) does not allow.
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cairn-tls-pg-'));
  const data = path.join(dir, 'pgdata');
  const asRoot = process.getuid?.() === 0;
  const owner = asRoot ? Number(execFileSync('id', ['-u', 'postgres']).toString()) : undefined;
  const group = asRoot ? Number(execFileSync('id', ['-g', 'postgres']).toString()) : undefined;
  const run = (cmd: string, args: string[]) =>
    asRoot ? (['runuser', ['-u', 'postgres', '--', cmd, ...args]] as const) : ([cmd, args] as const);
  if (asRoot) chownSync(dir, owner!, group!);
  const [initCmd, initArgs] = run(pgBin('initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8']);
  execFileSync(initCmd, [...initArgs], { stdio: ['ignore', 'ignore', 'pipe'] });
  // The server reads its key only when it is the owner's alone.
  const key = path.join(data, 'server.key');
  writeFileSync(path.join(data, 'server.crt'), readText(certs.certFile));
  writeFileSync(key, readText(certs.keyFile), { mode: 0o600 });
  if (asRoot) for (const f of ['server.crt', 'server.key']) chownSync(path.join(data, f), owner!, group!);
  chmodSync(key, 0o600);
  writeFileSync(
    path.join(data, 'pg_hba.conf'),
    'hostssl all all 127.0.0.1/32 trust\nhostnossl all all 127.0.0.1/32 reject\n',
  );
  const port = await freePort();
  const [cmd, args] = run(pgBin('postgres'), [
    '-D',
    data,
    '-p',
    String(port),
    '-k',
    dir,
    '-c',
    'listen_addresses=127.0.0.1',
    '-c',
    'ssl=on',
    '-c',
    'fsync=off',
  ]);
  const child = spawn(cmd, [...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-4000)));
  await waitFor(async () => {
    if (child.exitCode !== null) throw new Error(`postgres exited ${child.exitCode}: ${err}`);
    return /ready to accept connections/.test(err);
  }, 'the TLS PostgreSQL');
  return {
    port,
    stop: async () => {
      await stopChild(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A Redis server of its own on loopback that speaks only TLS (no plain port), keeping nothing on disk. */
export async function startTlsRedis(dir: string, certs: TestCertificates): Promise<Endpoint> {
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const child = spawn(
    'redis-server',
    [
      '--port',
      '0',
      '--tls-port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--tls-cert-file',
      certs.certFile,
      '--tls-key-file',
      certs.keyFile,
      '--tls-ca-cert-file',
      certs.caFile,
      '--tls-auth-clients',
      'no',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out = (out + d.toString()).slice(-4000)));
  await waitFor(() => {
    if (child.exitCode !== null) throw new Error(`redis-server exited ${child.exitCode}: ${out}`);
    return /Ready to accept connections/.test(out);
  }, 'the TLS Redis');
  return { port, stop: () => stopChild(child) };
}
