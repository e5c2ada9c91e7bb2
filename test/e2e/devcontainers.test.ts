import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { TestRegistry } from '../helpers/server';
import { startRegistryWithModelTeam } from '../helpers/auth';

const exec = promisify(execFile);
const CLI = path.resolve(__dirname, '../../node_modules/.bin/devcontainer');

/**
 * @devcontainers/cli publishes a Feature and a Template to Cairn under token auth and applies the
 * Template back, file for file. The CLI speaks plain HTTP only to a registry named `localhost`.
 */
describe('@devcontainers/cli publishes and applies under token auth', () => {
  let reg: TestRegistry;
  let tmp: string;
  let registry: string;
  let env: NodeJS.ProcessEnv;
  const devcontainer = (...args: string[]) => exec(CLI, args, { env, cwd: tmp, timeout: 120_000 });
  beforeAll(async () => {
    reg = await startRegistryWithModelTeam();
    registry = `localhost:${new URL(reg.url).port}`;
    tmp = await mkdtemp(path.join(os.tmpdir(), 'cairn-devcontainers-'));
    env = { ...process.env, HOME: tmp, DEVCONTAINERS_OCI_AUTH: `${registry}|paula|paula-password-123` };
  });
  afterAll(async () => {
    await reg?.close();
    await rm(tmp, { recursive: true, force: true });
  });

  it('publishes a Feature (every version tag) and reads its manifest back', async () => {
    const feature = path.join(tmp, 'features', 'hello');
    await mkdir(feature, { recursive: true });
    await writeFile(
      path.join(feature, 'devcontainer-feature.json'),
      JSON.stringify({ id: 'hello', version: '1.0.0', name: 'Hello', description: 'says hello' }),
    );
    await writeFile(path.join(feature, 'install.sh'), '#!/bin/sh\necho hello\n');
    const published = JSON.parse(
      (await devcontainer('features', 'publish', '-r', registry, '-n', 'models/devc', path.join(tmp, 'features')))
        .stdout,
    ) as Record<string, { publishedTags: string[]; digest: string }>;
    expect(published.hello!.publishedTags).toEqual(['1', '1.0', '1.0.0', 'latest']);
    // A reader reads it back.
    const info = JSON.parse(
      (
        await exec(
          CLI,
          ['features', 'info', 'manifest', `${registry}/models/devc/hello:1`, '--output-format', 'json'],
          { env: { ...env, DEVCONTAINERS_OCI_AUTH: `${registry}|rita|rita-password-123` }, cwd: tmp },
        )
      ).stdout,
    ) as {
      canonicalId: string;
      manifest: { layers: { mediaType: string }[]; annotations: Record<string, string> };
    };
    expect(info.canonicalId).toBe(`${registry}/models/devc/hello@${published.hello!.digest}`);
    expect(info.manifest.layers.map((l) => l.mediaType)).toEqual(['application/vnd.devcontainers.layer.v1+tar']);
    expect(JSON.parse(info.manifest.annotations['dev.containers.metadata']!)).toMatchObject({
      id: 'hello',
      version: '1.0.0',
    });
  });

  it('publishes a Template and applies it into a workspace file for file', async () => {
    const template = path.join(tmp, 'templates', 'starter');
    await mkdir(path.join(template, '.devcontainer'), { recursive: true });
    await writeFile(
      path.join(template, 'devcontainer-template.json'),
      JSON.stringify({ id: 'starter', version: '1.2.0', name: 'Starter', description: 'a starter', options: {} }),
    );
    const config = JSON.stringify({ name: 'starter', image: 'debian:bookworm', features: {} }, null, 2);
    await writeFile(path.join(template, '.devcontainer', 'devcontainer.json'), config);
    await devcontainer('templates', 'publish', '-r', registry, '-n', 'models/devt', path.join(tmp, 'templates'));
    // A reader applies it.
    const asReader = {
      env: { ...env, DEVCONTAINERS_OCI_AUTH: `${registry}|rita|rita-password-123` },
      cwd: tmp,
      timeout: 120_000,
    };
    const ws = path.join(tmp, 'workspace');
    await mkdir(ws);
    const applied = JSON.parse(
      (await exec(CLI, ['templates', 'apply', '-t', `${registry}/models/devt/starter:1`, '-w', ws], asReader)).stdout,
    ) as { files: string[] };
    expect(applied.files).toEqual(['./.devcontainer/devcontainer.json']);
    expect(await readFile(path.join(ws, '.devcontainer', 'devcontainer.json'), 'utf8')).toBe(config);
    // A reader cannot publish.
    await expect(
      exec(CLI, ['templates', 'publish', '-r', registry, '-n', 'models/devt2', path.join(tmp, 'templates')], asReader),
    ).rejects.toThrow();
  });
});
