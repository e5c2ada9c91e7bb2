import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';

const bin = path.join(__dirname, '..', '..', 'bin', 'cairn.js');

describe('the cairn command', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'cairn-cli-'));
  });
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  /** Starts `cairn serve` and resolves with its URL and what it printed so far. */
  async function serve(env: Record<string, string>): Promise<{ child: ReturnType<typeof spawn>; url: string; out: () => string; err: () => string }> {
    const child = spawn(process.execPath, [bin, 'serve'], {
      env: { ...process.env, CAIRN_LISTEN: '127.0.0.1:0', CAIRN_DATA_DIR: dir, CAIRN_LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no listening line: ${out} ${err}`)), 30_000);
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const line = out.split('\n').find((l) => l.includes('cairn registry listening'));
        if (line) {
          clearTimeout(timer);
          resolve(JSON.parse(line).url);
        }
      });
      child.once('exit', (code) => reject(new Error(`exited ${code}: ${out} ${err}`)));
    });
    return { child, url, out: () => out, err: () => err };
  }

  it('serve starts secure by default: a random admin password printed once and kept 0600, the built-in policies, /v2/ challenges', async () => {
    const { child, url, out, err } = await serve({});
    const r = await fetch(`${url}/v2/`);
    expect(r.status).toBe(401);
    expect(r.headers.get('www-authenticate')).toBe(`Bearer realm="${url}/token",service="cairn"`);
    expect(r.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
    const password = (await readFile(path.join(dir, 'admin-password'), 'utf8')).trim();
    expect((await stat(path.join(dir, 'admin-password'))).mode & 0o777).toBe(0o600);
    expect(err()).toContain(`password: ${password}`);
    // The password never reaches the JSON log.
    expect(out()).not.toContain(password);
    expect((await readdir(path.join(dir, 'policies'))).sort()).toEqual(['base.cedar', 'roles.cedar']);
    // The embedded backends put their files under the data directory.
    expect((await stat(path.join(dir, 'cairn.db'))).isFile()).toBe(true);
    expect((await stat(path.join(dir, 'blobs'))).isDirectory()).toBe(true);
    // One JSON log line per request, with its id.
    await new Promise((res) => setTimeout(res, 200));
    const requestLine = out().split('\n').filter(Boolean).map((l) => JSON.parse(l)).find((l) => l.msg === 'request');
    expect(requestLine).toMatchObject({ method: 'GET', url: '/v2/', status: 401, route: 'base' });
    expect(requestLine.reqId).toBe(r.headers.get('x-request-id'));
    child.kill('SIGTERM');
    const [code] = await once(child, 'exit');
    expect(code).toBe(0);
    // A second start keeps the admin as it is and prints no password.
    const again = await serve({});
    expect(again.err()).not.toContain('password:');
    again.child.kill('SIGTERM');
    await once(again.child, 'exit');
  });

  it('CAIRN_AUTH=none opens everything and says so loudly', async () => {
    const { child, url, err, out } = await serve({ CAIRN_AUTH: 'none' });
    expect((await fetch(`${url}/v2/`)).status).toBe(200);
    expect(err()).toMatch(/WARNING: AUTHENTICATION IS OFF/);
    expect(out()).toMatch(/AUTHENTICATION IS OFF/);
    child.kill('SIGTERM');
    await once(child, 'exit');
  });

  it.each([
    [{ CAIRN_LISTEN: 'not-an-address' }, /invalid configuration: listen: must be host:port/],
    [{ CAIRN_DATABASE: 'mysql://x' }, /invalid configuration: database:/],
    [{ CAIRN_UPLOAD_IDLE_TIMEOUT: 'later' }, /CAIRN_UPLOAD_IDLE_TIMEOUT: must be a whole number/],
  ])('refuses to start on an invalid configuration %j, naming the key', async (env, message) => {
    const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      execFile(process.execPath, [bin, 'serve'], { env: { ...process.env, CAIRN_DATA_DIR: dir, ...env }, timeout: 30_000 }, (err, _stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stderr });
      });
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
  });
});
