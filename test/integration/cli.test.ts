import { execFile, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
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
  async function serve(
    env: Record<string, string>,
  ): Promise<{ child: ReturnType<typeof spawn>; url: string; out: () => string; err: () => string }> {
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
    expect((await readdir(path.join(dir, 'policies'))).sort()).toEqual([
      'base.cedar',
      'governance.yaml',
      'roles.cedar',
    ]);
    // The embedded backends put their files under the data directory.
    expect((await stat(path.join(dir, 'cairn.db'))).isFile()).toBe(true);
    expect((await stat(path.join(dir, 'blobs'))).isDirectory()).toBe(true);
    // One JSON log line per request, with its id.
    await new Promise((res) => setTimeout(res, 200));
    const requestLine = out()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l))
      .find((l) => l.msg === 'request');
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
      execFile(
        process.execPath,
        [bin, 'serve'],
        { env: { ...process.env, CAIRN_DATA_DIR: dir, ...env }, timeout: 30_000 },
        (err, _stdout, stderr) => {
          resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stderr });
        },
      );
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
  });
});

describe('cairn admin and cairn policy', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'cairn-admin-'));
  });
  afterEach(async () => rm(dir, { recursive: true, force: true }));

  const cairn = (args: string[], input?: string) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      const child = execFile(
        process.execPath,
        [bin, ...args],
        { env: { ...process.env, CAIRN_DATA_DIR: dir, CAIRN_LOG_LEVEL: 'silent' }, timeout: 60_000 },
        (err, stdout, stderr) =>
          resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
      if (input !== undefined) child.stdin!.end(input);
    });

  it('manages users, robots, roles and keys that the running registry then honours', async () => {
    expect(
      (await cairn(['admin', 'users', 'add', 'alice', '--groups', 'ml', '--password-stdin'], 'alice-password-123\n'))
        .code,
    ).toBe(0);
    expect((await cairn(['admin', 'users', 'add', 'alice', '--password-stdin'], 'alice-password-123\n')).code).toBe(2);
    expect((await cairn(['admin', 'users', 'add', 'weak', '--password-stdin'], 'short\n')).stderr).toMatch(
      /12 characters/,
    );
    expect((await cairn(['admin', 'roles', 'bind', 'group:ml', 'publisher', 'ml/'])).code).toBe(0);
    expect((await cairn(['admin', 'roles', 'bind', 'group:ml', 'publisher', 'Bad Scope'])).code).toBe(2);
    const robot = JSON.parse((await cairn(['admin', 'robots', 'add', 'ci', '--expires-in-days', '30'])).stdout) as {
      user: string;
      secret: string;
    };
    expect(robot.user).toBe('robot$ci');
    expect((await cairn(['admin', 'roles', 'bind', 'robot:ci', 'reader', 'ml/'])).code).toBe(0);
    const kid = /new signing key (\S+);/.exec((await cairn(['admin', 'keys', 'rotate'])).stdout)?.[1];
    const keys = JSON.parse((await cairn(['admin', 'keys', 'list'])).stdout) as { kid: string; retiredAt?: string }[];
    expect(keys.filter((k) => !k.retiredAt).map((k) => k.kid)).toEqual([kid]);

    // policy test against the same database: exit codes for CI.
    const allow = await cairn([
      'policy',
      'test',
      '--principal',
      'user:alice',
      '--groups',
      'ml',
      '--action',
      'push',
      '--resource',
      'ml/bert',
      '--expect',
      'allow',
    ]);
    expect(allow.code).toBe(0);
    expect(allow.stdout).toMatch(/^ALLOW user:alice push ml\/bert\ndecided by: publisher\[group:ml on ml\/\]/);
    const deny = await cairn([
      'policy',
      'test',
      '--principal',
      'robot:ci',
      '--action',
      'push',
      '--resource',
      'ml/bert',
      '--expect',
      'allow',
    ]);
    expect(deny.code).toBe(1);
    expect(deny.stdout).toMatch(/DENY[\s\S]*default deny/);
    expect((await cairn(['policy', 'test', '--principal', 'bob', '--action', 'pull', '--resource', 'x'])).code).toBe(2);
    expect((await cairn(['policy', 'validate'])).stdout).toMatch(/valid/);

    // The server sees them: alice logs in and may push; the robot's secret works.
    const child = spawn(process.execPath, [bin, 'serve'], {
      env: { ...process.env, CAIRN_LISTEN: '127.0.0.1:0', CAIRN_DATA_DIR: dir, CAIRN_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    try {
      const url = await new Promise<string>((resolve) => {
        let out = '';
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          const line = out.split('\n').find((l) => l.includes('cairn registry listening'));
          if (line) resolve(JSON.parse(line).url);
        });
      });
      const auth = (u: string, p: string) => ({
        Authorization: `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`,
      });
      const a = (await (
        await fetch(`${url}/token?service=cairn&scope=repository:ml/bert:pull,push`, {
          headers: auth('alice', 'alice-password-123'),
        })
      ).json()) as { token: string };
      expect(JSON.parse(Buffer.from(a.token.split('.')[1]!, 'base64url').toString()).access[0].actions).toEqual([
        'pull',
        'push',
      ]);
      const r = await fetch(`${url}/token?service=cairn&scope=repository:ml/bert:pull,push`, {
        headers: auth(robot.user, robot.secret),
      });
      expect(
        JSON.parse(Buffer.from(((await r.json()) as { token: string }).token.split('.')[1]!, 'base64url').toString())
          .access[0].actions,
      ).toEqual(['pull']);
      // Disabling a user takes effect without a restart.
      expect((await cairn(['admin', 'users', 'disable', 'alice'])).code).toBe(0);
      expect((await fetch(`${url}/token?service=cairn`, { headers: auth('alice', 'alice-password-123') })).status).toBe(
        401,
      );
    } finally {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
  });

  it('refuses to start on an invalid policy, naming the file and the policy', async () => {
    await mkdir(path.join(dir, 'policies'), { recursive: true });
    await writeFile(
      path.join(dir, 'policies', 'bad.cedar'),
      '@id("oops")\npermit (principal, action == Cairn::Action::"fly", resource);\n',
    );
    const r = await cairn(['serve']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/bad\.cedar policy "oops"/);
  });
});
