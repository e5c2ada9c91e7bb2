import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { issueSecret } from '../../src/auth/secrets';
import { totpNow } from '../../src/auth/totp';
import type { TestRegistry } from '../helpers/server';
import { addUser, basic, policiesNow, startAuthRegistry, storeOf } from '../helpers/auth';
import { readLayout, writeLayout } from './oci-layout';

const exec = promisify(execFile);
const skopeo = (...args: string[]) => exec('skopeo', ['--insecure-policy', ...args], { timeout: 120_000 });

/**
 * skopeo, an independent client, through the whole Docker token flow: the 401 challenge, GET /token with
 * its credentials, the bearer token on every request; with a user's password, a robot's secret, and a
 * personal access token obtained with password + TOTP. Wrong and unauthorised credentials fail.
 */
describe('skopeo logs in and pushes/pulls with a user, a robot and a personal access token', () => {
  let reg: TestRegistry;
  let tmp: string;
  let host: string;
  let src: Awaited<ReturnType<typeof writeLayout>>;
  let robotSecret: string;
  beforeAll(async () => {
    await exec('skopeo', ['--version']).catch(() => {
      throw new Error('skopeo is required for the end-to-end tests (.ci/run installs it with apt-get)');
    });
    reg = await startAuthRegistry();
    host = new URL(reg.url).host;
    tmp = await mkdtemp(path.join(os.tmpdir(), 'cairn-skopeo-auth-'));
    src = await writeLayout(path.join(tmp, 'src'), 'v1');
    await addUser(reg, 'paula', 'paula-password-123', [], [['publisher', 'models/']]);
    await addUser(reg, 'rita', 'rita-password-123', [], [['reader', 'models/']]);
    const robot = issueSecret('robot');
    robotSecret = robot.secret;
    await storeOf(reg).createRobot({
      name: 'ci',
      secretHash: robot.hash,
      groups: [],
      disabled: false,
      description: 'CI',
    });
    await storeOf(reg).bindRole({ principal: 'robot:ci', role: 'publisher', scope: 'models/ci/' });
    await policiesNow(reg);
  });
  afterAll(async () => {
    await reg?.close();
    await rm(tmp, { recursive: true, force: true });
  });

  const push = (creds: string, repo: string) =>
    skopeo(
      'copy',
      '--preserve-digests',
      '--dest-tls-verify=false',
      '--dest-creds',
      creds,
      `oci:${src.dir}:v1`,
      `docker://${host}/${repo}:v1`,
    );
  const pull = (creds: string, repo: string, dir: string) =>
    skopeo(
      'copy',
      '--preserve-digests',
      '--src-tls-verify=false',
      '--src-creds',
      creds,
      `docker://${host}/${repo}:v1`,
      `oci:${dir}:v1`,
    );

  it('with a user password: pushes, pulls back byte for byte, lists tags', async () => {
    await push('paula:paula-password-123', 'models/bert');
    const back = path.join(tmp, 'back-user');
    await pull('paula:paula-password-123', 'models/bert', back);
    const copy = await readLayout(back);
    expect(copy.manifestDigest).toBe(src.manifestDigest);
    for (const [digest, bytes] of src.blobs) expect((await copy.blob(digest)).equals(bytes)).toBe(true);
    const { stdout } = await skopeo(
      'list-tags',
      '--tls-verify=false',
      '--creds',
      'rita:rita-password-123',
      `docker://${host}/models/bert`,
    );
    expect(JSON.parse(stdout).Tags).toEqual(['v1']);
  });

  it("with a robot secret, inside the robot's scope only", async () => {
    await push(`robot$ci:${robotSecret}`, 'models/ci/bert');
    await pull(`robot$ci:${robotSecret}`, 'models/ci/bert', path.join(tmp, 'back-robot'));
    await expect(push(`robot$ci:${robotSecret}`, 'models/other')).rejects.toThrow(
      /denied|unauthorized|authentication required|403/i,
    );
  });

  it('with a personal access token obtained with password + TOTP', async () => {
    await addUser(reg, 'hugo', 'hugo-password-123', [], [['publisher', 'models/']]);
    const enroll = (await (
      await fetch(`${reg.url}/auth/mfa/enroll`, {
        method: 'POST',
        headers: { Authorization: basic('hugo', 'hugo-password-123') },
      })
    ).json()) as { secret: string };
    await fetch(`${reg.url}/auth/mfa/confirm`, {
      method: 'POST',
      headers: { Authorization: basic('hugo', 'hugo-password-123'), 'Content-Type': 'application/json' },
      body: JSON.stringify({ code: await totpNow(enroll.secret) }),
    });
    const pat = (await (
      await fetch(`${reg.url}/auth/tokens`, {
        method: 'POST',
        headers: {
          Authorization: basic('hugo', 'hugo-password-123'),
          'X-Cairn-OTP': await totpNow(enroll.secret),
          'Content-Type': 'application/json',
        },
        body: '{}',
      })
    ).json()) as { token: string };
    // The password alone no longer works for a user with MFA.
    await expect(push('hugo:hugo-password-123', 'models/hugo')).rejects.toThrow();
    await push(`hugo:${pat.token}`, 'models/hugo');
    await pull(`hugo:${pat.token}`, 'models/hugo', path.join(tmp, 'back-pat'));
  });

  it("fails with wrong credentials, with a reader's credentials for a push, and for a disabled user", async () => {
    await expect(push('paula:wrong-password', 'models/x')).rejects.toThrow(/unauthorized|invalid credentials|401/i);
    await expect(push('rita:rita-password-123', 'models/x')).rejects.toThrow(/denied|unauthorized|403/i);
    await expect(pull('nobody:whatever', 'models/bert', path.join(tmp, 'never'))).rejects.toThrow();
    await storeOf(reg).updateUser('paula', { disabled: true });
    await expect(pull('paula:paula-password-123', 'models/bert', path.join(tmp, 'never2'))).rejects.toThrow();
  });
});
