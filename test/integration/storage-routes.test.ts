import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { cairn, cleanEnv } from '../helpers/cli-transfer';
import { startTestRegistry, type TestRegistry } from '../helpers/server';
import { imageManifest, pushBlob, pushManifest, random, sha256 } from './http-client';

const SQLITE = { database: 'sqlite', sessions: 'memory' } as const;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('storage routed by sensitivity: restricted/** on its own backend', () => {
  let tmp: string;
  let open: string;
  let onprem: string;
  let reg: TestRegistry;
  let config: string;
  const file = (dir: string, digest: string) => path.join(dir, 'sha256', digest.slice(7, 9), digest.slice(7));

  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'cairn-routes-'));
    open = path.join(tmp, 'bucket');
    onprem = path.join(tmp, 'onprem');
    const storage = {
      url: `file://${open}`,
      routes: [{ name: 'onprem', repositories: ['restricted/**'], url: `file://${onprem}` }],
    };
    reg = await startTestRegistry(SQLITE, { storage });
    config = path.join(tmp, 'cairn.yaml');
    await writeFile(config, JSON.stringify({ dataDir: reg.dataDir, storage, log: { level: 'warn' } }));
  });
  afterAll(async () => {
    await reg?.close();
    await rm(tmp, { recursive: true, force: true });
  });

  async function artifact(repo: string, layer: Buffer): Promise<string> {
    const config = Buffer.from(`{"repo":"${repo}"}`);
    const c = await pushBlob(reg.url, repo, config);
    const l = await pushBlob(reg.url, repo, layer);
    await pushManifest(
      reg.url,
      repo,
      'v1',
      imageManifest({ digest: c, size: config.length }, [{ digest: l, size: layer.length }]),
    );
    return l;
  }

  it('keeps each repository in its route, copies on a mount across routes, and gc and scrub cover every route', async () => {
    const secretBytes = random(300_000);
    const secret = await artifact('restricted/model', secretBytes);
    const shared = await artifact('public/model', random(200_000));
    expect([existsSync(file(onprem, secret)), existsSync(file(open, secret))]).toEqual([true, false]);
    expect([existsSync(file(onprem, shared)), existsSync(file(open, shared))]).toEqual([false, true]);
    const pulled = await fetch(`${reg.url}/v2/restricted/model/blobs/${secret}`);
    expect(sha256(Buffer.from(await pulled.arrayBuffer()))).toBe(secret);

    // Mounting the public layer into a restricted repository gives it a copy on premises.
    const mount = await fetch(`${reg.url}/v2/restricted/derived/blobs/uploads/?mount=${shared}&from=public/model`, {
      method: 'POST',
    });
    expect(mount.status).toBe(201);
    expect([existsSync(file(onprem, shared)), existsSync(file(open, shared))]).toEqual([true, true]);

    // An orphan in the restricted route: the collector finds it there.
    const orphan = await pushBlob(reg.url, 'restricted/orphan', random(777));
    expect(existsSync(file(onprem, orphan))).toBe(true);
    await sleep(1100);
    await reg.stop();
    const env = cleanEnv();
    const gc = await cairn(['gc', '-c', config, '--grace', '1'], env);
    expect(gc.code).toBe(0);
    expect(JSON.parse(gc.stdout.trim().split('\n').pop()!)).toMatchObject({ blobsRemoved: 1, bytesFreed: 777 });
    expect(existsSync(file(onprem, orphan))).toBe(false);
    expect(existsSync(file(onprem, secret))).toBe(true);

    // The scrubber reads every route's copy: the on-premises copy of the shared layer, altered, is found.
    const clean = await cairn(['scrub', '-c', config], env);
    expect(clean.code).toBe(0);
    // config ×2, the secret layer, the shared layer twice (both routes), receipts' blobs: at least 5.
    expect(Number(/^(\d+) blob\(s\)/m.exec(clean.stdout)?.[1])).toBeGreaterThanOrEqual(5);
    await writeFile(file(onprem, shared), random(200_000));
    const dirty = await cairn(['scrub', '-c', config, '--no-quarantine'], env);
    expect(dirty.code).toBe(1);
    expect(dirty.stdout).toContain(`CORRUPT ${shared}`);
    reg = await reg.restart();
  });
});
