import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { issueSecret } from '../../src/auth/secrets';
import { totpNow } from '../../src/auth/totp';
import type { TestRegistry } from '../helpers/server';
import { addUser, basic, policiesNow, startAuthRegistry, storeOf } from '../helpers/auth';
import { writeImageLayout } from './image-layout';

const exec = promisify(execFile);

/**
 * podman (as root, vfs storage in a temporary directory, as ../shared/clients.md found it runs here):
 * `podman login` with a user, a robot and a personal access token, then push and pull through the
 * token flow. Runs where podman is installed; with CI=true it must be (.ci/run installs it).
 */
describe('podman logs in with a user, a robot and a personal access token, and pushes and pulls', () => {
  let reg: TestRegistry;
  let tmp: string;
  let host: string;
  let podman: (...args: string[]) => Promise<{ stdout: string; stderr: string }>;
  let robotSecret: string;
  const available = exec('podman', ['--version']).then(
    () => true,
    () => {
      if (process.env.CI === 'true') throw new Error('podman is required when CI=true (.ci/run installs it)');
      return false;
    },
  );
  beforeAll(async () => {
    if (!(await available)) return;
    reg = await startAuthRegistry();
    host = new URL(reg.url).host;
    // podman names an image pulled from a layout after its path, which must then be lower-case.
    tmp = path.join(os.tmpdir(), `cairn-podman-${randomBytes(6).toString('hex')}`);
    await mkdir(tmp);
    const common = [
      '--root',
      path.join(tmp, 'storage'),
      '--runroot',
      path.join(tmp, 'run'),
      '--storage-driver',
      'vfs',
      '--events-backend',
      'file',
      '--cgroup-manager',
      'cgroupfs',
    ];
    podman = (...args) =>
      exec('podman', [...common, ...args], {
        timeout: 180_000,
        env: { ...process.env, REGISTRY_AUTH_FILE: path.join(tmp, 'auth.json') },
      });
    await writeFile(path.join(tmp, 'auth.json'), '{"auths":{}}');
    const layout = await writeImageLayout(path.join(tmp, 'layout'), 'v1');
    await podman('pull', `oci:${layout.dir}:v1`);
    const { stdout: ids } = await podman('images', '--format', '{{.ID}}');
    await podman('tag', ids.trim().split('\n')[0]!, 'localhost/cairn-test:v1');
    await addUser(reg, 'paula', 'paula-password-123', [], [['publisher', 'models/']]);
    const robot = issueSecret('robot');
    robotSecret = robot.secret;
    await storeOf(reg).createRobot({
      name: 'ci',
      secretHash: robot.hash,
      groups: [],
      disabled: false,
      description: '',
    });
    await storeOf(reg).bindRole({ principal: 'robot:ci', role: 'publisher', scope: 'models/' });
    await policiesNow(reg);
  }, 300_000);
  afterAll(async () => {
    await reg?.close();
    if (tmp) {
      await podman('rmi', '--all', '--force').catch(() => undefined);
      await rm(tmp, { recursive: true, force: true });
    }
  });

  const loginPushPull = async (user: string, password: string, repo: string) => {
    const { stdout } = await podman('login', '--tls-verify=false', '-u', user, '-p', password, host);
    expect(stdout).toMatch(/Login Succeeded/);
    await podman('push', '--tls-verify=false', 'localhost/cairn-test:v1', `${host}/${repo}:v1`);
    await podman('rmi', `${host}/${repo}:v1`).catch(() => undefined);
    await podman('pull', '--tls-verify=false', `${host}/${repo}:v1`);
    const { stdout: images } = await podman('images', '--format', '{{.Repository}}:{{.Tag}}');
    expect(images).toContain(`${host}/${repo}:v1`);
    await podman('logout', host);
  };

  it('with a user password', async () => {
    if (!(await available)) return;
    await loginPushPull('paula', 'paula-password-123', 'models/podman-user');
  });

  it('with a robot secret', async () => {
    if (!(await available)) return;
    await loginPushPull('robot$ci', robotSecret, 'models/podman-robot');
  });

  it('with a personal access token, and refuses wrong credentials at login', async () => {
    if (!(await available)) return;
    await addUser(reg, 'hugo', 'hugo-password-123', [], [['publisher', 'models/']]);
    const { secret } = (await (
      await fetch(`${reg.url}/auth/mfa/enroll`, {
        method: 'POST',
        headers: { Authorization: basic('hugo', 'hugo-password-123') },
      })
    ).json()) as { secret: string };
    await fetch(`${reg.url}/auth/mfa/confirm`, {
      method: 'POST',
      headers: { Authorization: basic('hugo', 'hugo-password-123'), 'Content-Type': 'application/json' },
      body: JSON.stringify({ code: await totpNow(secret) }),
    });
    const pat = (await (
      await fetch(`${reg.url}/auth/tokens`, {
        method: 'POST',
        headers: {
          Authorization: basic('hugo', 'hugo-password-123'),
          'X-Cairn-OTP': await totpNow(secret),
          'Content-Type': 'application/json',
        },
        body: '{}',
      })
    ).json()) as { token: string };
    await loginPushPull('hugo', pat.token, 'models/podman-pat');
    await expect(podman('login', '--tls-verify=false', '-u', 'paula', '-p', 'wrong-password', host)).rejects.toThrow(
      /401|unauthorized|invalid/i,
    );
  });
});
