import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { TestRegistry } from '../helpers/server';
import { bearer, startRegistryWithModelTeam, token } from '../helpers/auth';
import { writeImageLayout } from './image-layout';

const exec = promisify(execFile);

async function installed(cmd: string): Promise<boolean> {
  return exec(cmd, ['--version']).then(
    () => true,
    () => {
      if (process.env.CI === 'true') throw new Error(`${cmd} is required when CI=true (.ci/run installs it)`);
      return false;
    },
  );
}

/**
 * buildah and the docker CLI, each through the token flow with a publisher's password: buildah pushes and
 * pulls an image; docker logs in and pushes and inspects a manifest list (no engine runs here: `docker
 * manifest` talks to the registry itself). These clients carry container images only; ModelPack
 * artifacts are covered by oras, skopeo and the Node clients.
 */
describe('buildah and the docker CLI under token auth', () => {
  let reg: TestRegistry;
  let tmp: string;
  let host: string;
  beforeAll(async () => {
    reg = await startRegistryWithModelTeam();
    host = new URL(reg.url).host;
    tmp = path.join(os.tmpdir(), `cairn-buildah-docker-${randomBytes(6).toString('hex')}`);
    await mkdir(tmp);
  });
  afterAll(async () => {
    await reg?.close();
    await rm(tmp, { recursive: true, force: true });
  });

  it('buildah logs in, pushes an image and pulls it back; a reader cannot push', async () => {
    if (!(await installed('buildah'))) return;
    const common = ['--root', path.join(tmp, 'storage'), '--runroot', path.join(tmp, 'run'), '--storage-driver', 'vfs'];
    const env = { ...process.env, REGISTRY_AUTH_FILE: path.join(tmp, 'buildah-auth.json') };
    await writeFile(env.REGISTRY_AUTH_FILE, '{"auths":{}}');
    const buildah = (...args: string[]) => exec('buildah', [...common, ...args], { timeout: 180_000, env });
    const layout = await writeImageLayout(path.join(tmp, 'layout'), 'v1');
    await buildah('pull', `oci:${layout.dir}:v1`);
    const { stdout: ids } = await buildah('images', '--format', '{{.ID}}');
    const id = ids.trim().split('\n')[0]!;
    expect(
      (await buildah('login', '--tls-verify=false', '-u', 'paula', '-p', 'paula-password-123', host)).stdout,
    ).toMatch(/Login Succeeded/);
    await buildah('push', '--tls-verify=false', id, `docker://${host}/models/buildah:v1`);
    await buildah('rmi', '--all', '--force');
    await buildah('pull', '--tls-verify=false', `docker://${host}/models/buildah:v1`);
    expect((await buildah('images', '--format', '{{.Name}}:{{.Tag}}')).stdout).toContain(`${host}/models/buildah:v1`);
    const t = await token(reg.url, 'paula', 'paula-password-123', ['repository:models/buildah:pull']);
    expect((await fetch(`${reg.url}/v2/models/buildah/tags/list`, { headers: bearer(t) })).status).toBe(200);
    await buildah('logout', host);
    await buildah('login', '--tls-verify=false', '-u', 'rita', '-p', 'rita-password-123', host);
    await expect(buildah('push', '--tls-verify=false', id, `docker://${host}/models/buildah:v2`)).rejects.toThrow();
  });

  it('docker logs in and pushes and inspects a manifest list of images in the registry', async () => {
    if (!(await installed('docker'))) return;
    const env = { ...process.env, DOCKER_CONFIG: path.join(tmp, 'docker') };
    const docker = (...args: string[]) => exec('docker', args, { timeout: 120_000, env });
    // The images the list names, pushed by the publisher.
    const t = await token(reg.url, 'paula', 'paula-password-123', ['repository:models/docker:pull,push']);
    const digests: string[] = [];
    for (const arch of ['amd64', 'arm64']) {
      const cfg = Buffer.from(
        JSON.stringify({ architecture: arch, os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }),
      );
      const cfgDigest = `sha256:${createHash('sha256').update(cfg).digest('hex')}`;
      expect(
        (
          await fetch(`${reg.url}/v2/models/docker/blobs/uploads/?digest=${cfgDigest}`, {
            method: 'POST',
            body: cfg,
            headers: bearer(t),
          })
        ).status,
      ).toBe(201);
      const manifest = JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
        config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: cfgDigest, size: cfg.length },
        layers: [],
      });
      const put = await fetch(`${reg.url}/v2/models/docker/manifests/${arch}`, {
        method: 'PUT',
        body: manifest,
        headers: { ...bearer(t), 'Content-Type': 'application/vnd.docker.distribution.manifest.v2+json' },
      });
      expect(put.status).toBe(201);
      digests.push(put.headers.get('docker-content-digest')!);
    }
    const login = await exec('sh', ['-c', 'printf %s "$PW" | docker login -u paula --password-stdin "$HOST"'], {
      env: { ...env, PW: 'paula-password-123', HOST: host },
      timeout: 60_000,
    });
    expect(login.stdout).toMatch(/Login Succeeded/);
    await docker(
      'manifest',
      'create',
      '--insecure',
      `${host}/models/docker:multi`,
      `${host}/models/docker:amd64`,
      `${host}/models/docker:arm64`,
    );
    await docker(
      'manifest',
      'annotate',
      `${host}/models/docker:multi`,
      `${host}/models/docker:arm64`,
      '--arch',
      'arm64',
    );
    const pushed = await docker('manifest', 'push', '--insecure', `${host}/models/docker:multi`);
    expect(pushed.stdout).toMatch(/sha256:[a-f0-9]{64}/);
    const inspected = JSON.parse(
      (await docker('manifest', 'inspect', '--insecure', `${host}/models/docker:multi`)).stdout,
    ) as { manifests: { digest: string }[] };
    expect(inspected.manifests.map((m) => m.digest).sort()).toEqual([...digests].sort());
    await docker('logout', host);
  });
});
