import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { random, sha256 } from '../conformance/client';
import { freePort } from '../helpers/ports';

const exec = promisify(execFile);
const ROOT = path.join(__dirname, '..', '..');

interface Instruction {
  op: string;
  args: string;
  stage: number;
}

/** Dockerfile instructions with line continuations joined and comments dropped, each tagged with its stage. */
function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let stage = -1;
  for (const line of text.replace(/\\\n/g, ' ').split('\n')) {
    const t = line.trim();
    if (!t || t.startsWith('#')) continue;
    const [op, ...rest] = t.split(/\s+/);
    if (op!.toUpperCase() === 'FROM') stage++;
    out.push({ op: op!.toUpperCase(), args: rest.join(' '), stage });
  }
  return out;
}

/**
 * deploy/Dockerfile. No Docker engine runs on the test machines, so the test checks the file's
 * structure and then reproduces its runtime stage on the host: the same files (package.json,
 * production-only node_modules after `npm prune --omit=dev`, dist/, bin/), the image's environment,
 * the entrypoint, and the HEALTHCHECK command; a push and a pull go through it.
 */
describe('deploy/Dockerfile', () => {
  let instructions: Instruction[];
  let dockerignore: string[];
  beforeAll(async () => {
    instructions = parseDockerfile(await readFile(path.join(ROOT, 'deploy', 'Dockerfile'), 'utf8'));
    dockerignore = (await readFile(path.join(ROOT, '.dockerignore'), 'utf8'))
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'));
  });
  const final = () => instructions.filter((i) => i.stage === Math.max(...instructions.map((x) => x.stage)));

  it('is multi-stage: the toolchain stays in the build stage, the runtime copies only build outputs', () => {
    const froms = instructions.filter((i) => i.op === 'FROM');
    expect(froms.length).toBeGreaterThanOrEqual(2);
    expect(froms[0]!.args).toMatch(/^node:20[\w.-]* AS build$/);
    expect(froms.at(-1)!.args).toMatch(/^node:20-[\w.-]*slim\b/);
    const runtime = final();
    expect(runtime.some((i) => i.op === 'RUN' && /apt-get install|npm ci|g\+\+/.test(i.args))).toBe(false);
    const copies = runtime.filter((i) => i.op === 'COPY');
    expect(copies.length).toBeGreaterThan(0);
    for (const c of copies) expect(c.args).toMatch(/^--from=build /);
    expect(copies.map((c) => c.args.split(/\s+/)[1])).toEqual(
      expect.arrayContaining(['/src/node_modules', '/src/dist', '/src/bin', '/src/policies']),
    );
    // The web console is bundled in the build stage (npm run build) and reaches the runtime inside dist/.
    expect(instructions.some((i) => i.stage === 0 && i.op === 'COPY' && /^ui\s/.test(i.args))).toBe(true);
    // Dev dependencies are pruned before node_modules reaches the runtime.
    expect(instructions.some((i) => i.stage === 0 && i.op === 'RUN' && /npm prune --omit=dev/.test(i.args))).toBe(true);
  });

  it('runs as a non-root user and exposes the port it listens on', () => {
    const runtime = final();
    const user = runtime.filter((i) => i.op === 'USER').at(-1)?.args;
    expect(user).toBeDefined();
    expect(user).not.toMatch(/^(root|0)(:|$)/);
    const env = runtime
      .filter((i) => i.op === 'ENV')
      .map((i) => i.args)
      .join(' ');
    const listen = /CAIRN_LISTEN=(\S+)/.exec(env)?.[1];
    expect(listen).toBe('0.0.0.0:5000');
    expect(runtime.find((i) => i.op === 'EXPOSE')?.args).toBe('5000');
    expect(JSON.parse(runtime.find((i) => i.op === 'ENTRYPOINT')!.args)).toEqual(['node', '/app/bin/cairn.js']);
  });

  it('copies only files that exist and that .dockerignore lets into the build context', () => {
    const sources = instructions
      .filter((i) => i.op === 'COPY' && !i.args.startsWith('--from'))
      .flatMap((i) => i.args.split(/\s+/).slice(0, -1));
    expect(sources.length).toBeGreaterThan(0);
    for (const s of sources) {
      expect(existsSync(path.join(ROOT, s))).toBe(true);
      expect(dockerignore).not.toContain(s);
    }
    for (const heavy of ['node_modules', 'dist', '.git', 'data']) expect(dockerignore).toContain(heavy);
  });

  describe('its runtime stage, reproduced on the host', () => {
    let app: string;
    let data: string;
    let server: ChildProcess | undefined;
    let base: string;
    let env: NodeJS.ProcessEnv;
    beforeAll(async () => {
      app = await mkdtemp(path.join(os.tmpdir(), 'cairn-image-'));
      data = path.join(app, 'data');
      await mkdir(data);
      for (const f of ['package.json', 'package-lock.json', 'node_modules'])
        await cp(path.join(ROOT, f), path.join(app, f), { recursive: true, verbatimSymlinks: true });
      await exec('npm', ['prune', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--offline'], {
        cwd: app,
        timeout: 120_000,
      });
      for (const f of ['dist', 'bin', 'policies']) await cp(path.join(ROOT, f), path.join(app, f), { recursive: true });
      const port = await freePort();
      // The image's ENV lines, with the listen address moved to loopback and /data to a temp dir.
      const imageEnv = Object.fromEntries(
        final()
          .filter((i) => i.op === 'ENV')
          .flatMap((i) => i.args.split(/\s+/))
          .map((kv) => kv.split('=') as [string, string]),
      );
      env = {
        PATH: process.env.PATH,
        HOME: app,
        ...imageEnv,
        CAIRN_LISTEN: `127.0.0.1:${port}`,
        CAIRN_DATA_DIR: data,
        CAIRN_LOG_LEVEL: 'warn',
      };
      base = `http://127.0.0.1:${port}`;
    }, 180_000);
    afterAll(async () => {
      server?.kill('SIGKILL');
      await rm(app, { recursive: true, force: true });
    });

    it('has no development dependency left', () => {
      for (const dev of ['typescript', 'jest', '@swc/core'])
        expect(existsSync(path.join(app, 'node_modules', dev))).toBe(false);
      expect(existsSync(path.join(app, 'node_modules', 'better-sqlite3'))).toBe(true);
    });

    it('starts with the entrypoint and serves a push and a pull; the HEALTHCHECK command passes, and fails once it stops', async () => {
      server = spawn(process.execPath, [path.join(app, 'bin', 'cairn.js'), 'serve'], {
        cwd: app,
        env,
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      server.stderr!.on('data', (d) => (stderr += d));
      const until = Date.now() + 30_000;
      let up = false;
      while (!up && Date.now() < until) {
        up = await fetch(`${base}/healthz`).then(
          (r) => r.ok,
          () => false,
        );
        if (!up) await new Promise((r) => setTimeout(r, 200));
      }
      expect(up).toBe(true);
      // Secure by default in the image too: the bootstrap admin's password is printed once and kept in /data.
      const password = (await readFile(path.join(data, 'admin-password'), 'utf8')).trim();
      expect(stderr).toContain(password);
      const tr = await fetch(`${base}/token?service=cairn&scope=repository:image/test:pull,push`, {
        headers: { Authorization: `Basic ${Buffer.from(`admin:${password}`).toString('base64')}` },
      });
      const auth = { Authorization: `Bearer ${((await tr.json()) as { token: string }).token}` };
      const blob = random(100_000);
      const d = sha256(blob);
      expect(
        (await fetch(`${base}/v2/image/test/blobs/uploads/?digest=${d}`, { method: 'POST', body: blob })).status,
      ).toBe(401);
      expect(
        (await fetch(`${base}/v2/image/test/blobs/uploads/?digest=${d}`, { method: 'POST', body: blob, headers: auth }))
          .status,
      ).toBe(201);
      const got = await fetch(`${base}/v2/image/test/blobs/${d}`, { headers: auth });
      expect(Buffer.from(await got.arrayBuffer()).equals(blob)).toBe(true);
      // The console is served from the image's dist/, with its policy headers.
      const ui = await fetch(`${base}/ui/`);
      expect(ui.status).toBe(200);
      expect(ui.headers.get('content-security-policy')).toContain("script-src 'self'");
      expect((await fetch(`${base}/ui/app.js`)).status).toBe(200);

      const check = final().find((i) => i.op === 'HEALTHCHECK')!.args;
      const cmd = JSON.parse(check.slice(check.indexOf('CMD') + 3).trim()) as string[];
      expect(cmd[0]).toBe('node');
      const run = () =>
        exec(process.execPath, cmd.slice(1), { env, timeout: 10_000 }).then(
          () => 0,
          (e: { code?: number }) => e.code ?? -1,
        );
      expect(await run()).toBe(0);
      server.kill('SIGTERM');
      await new Promise((r) => server!.once('exit', r));
      expect(server.exitCode).toBe(0);
      expect(await run()).toBe(1);
    });
  });
});
