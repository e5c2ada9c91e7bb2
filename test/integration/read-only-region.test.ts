import { generateKeyPairSync } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { cairn, cleanEnv, waitFor } from '../helpers/cli-transfer';
import { freePort } from '../helpers/ports';
import { startPgPair, type PgPair } from '../helpers/pg-standby';
import { startTestRegistry, type TestRegistry } from '../helpers/server';
import { imageManifest, pushBlob, pushManifest, random, sha256 } from './http-client';
import { rawPublicKey, verifierKey } from '../../src/audit/checkpoint';

const SQLITE = { database: 'sqlite', sessions: 'memory' } as const;

describe('a read-only region on a PostgreSQL hot standby', () => {
  let tmp: string;
  let pg: PgPair;
  let primary: TestRegistry;
  let region: TestRegistry;

  async function push(repo: string, tag: string): Promise<{ digest: string; layer: Buffer; layerDigest: string }> {
    const config = Buffer.from(`{"repo":"${repo}","tag":"${tag}"}`);
    const layer = random(200_000);
    const c = await pushBlob(primary.url, repo, config);
    const l = await pushBlob(primary.url, repo, layer);
    const { digest } = await pushManifest(
      primary.url,
      repo,
      tag,
      imageManifest({ digest: c, size: config.length }, [{ digest: l, size: layer.length }]),
    );
    return { digest, layer, layerDigest: l };
  }

  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'cairn-region-'));
    pg = await startPgPair();
    const regionKey = generateKeyPairSync('ed25519');
    const regionKeyFile = path.join(tmp, 'region-key.pem');
    await writeFile(regionKeyFile, regionKey.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const port = await freePort();
    primary = await startTestRegistry(SQLITE, {
      listen: `127.0.0.1:${port}`,
      database: pg.primaryUrl,
      audit: { origin: 'primary', regions: [verifierKey('eu-ro', rawPublicKey(regionKey.publicKey))] },
    });
    await pg.caughtUp();
    region = await startTestRegistry(SQLITE, {
      mode: 'read-only',
      primary: primary.url,
      database: pg.standbyUrl,
      // The region's copy of the storage: here the primary's own directory stands for a replicated bucket.
      storage: `file://${path.join(primary.dataDir, 'blobs')}`,
      audit: { origin: 'eu-ro', keyFile: regionKeyFile },
    });
  });
  afterAll(async () => {
    await region?.close();
    await primary?.close();
    await pg?.close();
    await rm(tmp, { recursive: true, force: true });
  });

  it('serves what the primary took in, from the standby, byte for byte', async () => {
    const { digest, layer, layerDigest } = await push('ml/served', 'v1');
    await pg.caughtUp();
    const m = await fetch(`${region.url}/v2/ml/served/manifests/v1`, {
      headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    expect(m.status).toBe(200);
    expect(m.headers.get('docker-content-digest')).toBe(digest);
    const b = await fetch(`${region.url}/v2/ml/served/blobs/${layerDigest}`);
    expect(b.status).toBe(200);
    expect(sha256(Buffer.from(await b.arrayBuffer()))).toBe(sha256(layer));
    const tags = (await (await fetch(`${region.url}/v2/ml/served/tags/list`)).json()) as { tags: string[] };
    expect(tags.tags).toEqual(['v1']);
  });

  it('refuses every write with an error naming the primary', async () => {
    const existing = Buffer.from(
      await (
        await fetch(`${region.url}/v2/ml/served/manifests/v1`, {
          headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' },
        })
      ).arrayBuffer(),
    );
    const writes: [string, string, RequestInit][] = [
      ['upload', '/v2/ml/served/blobs/uploads/', { method: 'POST' }],
      [
        'manifest',
        '/v2/ml/served/manifests/v2',
        { method: 'PUT', headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' }, body: existing },
      ],
      ['delete', '/v2/ml/served/manifests/v1', { method: 'DELETE' }],
      ['lifecycle', '/v2/ml/served/_cairn/lifecycle/v1?to=candidate', { method: 'POST' }],
    ];
    for (const [what, p, init] of writes) {
      const r = await fetch(`${region.url}${p}`, init);
      const body = (await r.json()) as { errors: { code: string; message: string; detail: { primary: string } }[] };
      expect([what, r.status, body.errors[0]!.code]).toEqual([what, 405, 'READ_ONLY']);
      expect(body.errors[0]!.detail.primary).toBe(primary.url);
      expect(body.errors[0]!.message).toContain(primary.url);
    }
    // Nothing reached the primary's catalog.
    expect(await primary.registry.services.catalog.getManifest('ml/served', 'v2')).toBeUndefined();
  });

  it("records its pulls in the primary's audit log, keeping them while the primary is down", async () => {
    const { digest } = await push('ml/audited', 'v1');
    await pg.caughtUp();
    expect((await fetch(`${region.url}/v2/ml/audited/manifests/v1`)).status).toBe(200);
    const fromRegion = async (d: string) =>
      (await primary.registry.audit.search({ digest: d })).filter(
        (e) => e.type === 'pull' && e.detail?.region === 'eu-ro',
      );
    await waitFor(
      async () => ((await fromRegion(digest)).length ? true : undefined),
      20_000,
      'the pull at the primary',
      200,
    );
    const [event] = await fromRegion(digest);
    expect(event).toMatchObject({ repository: 'ml/audited', tag: 'v1', detail: { region: 'eu-ro' } });

    // The primary goes away; the region keeps serving and keeps its records.
    const later = await push('ml/later', 'v1');
    await pg.caughtUp();
    await primary.stop();
    expect((await fetch(`${region.url}/v2/ml/later/manifests/v1`)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 2500));
    primary = await primary.restart();
    await waitFor(
      async () => ((await fromRegion(later.digest)).length ? true : undefined),
      20_000,
      'the pull recorded while the primary was down',
      200,
    );
    // Taken in once, however often it was sent.
    await new Promise((r) => setTimeout(r, 2500));
    expect(await fromRegion(later.digest)).toHaveLength(1);
    expect(await fromRegion(digest)).toHaveLength(1);
  });

  it('refuses a batch not signed by a configured region', async () => {
    const body = JSON.stringify({ origin: 'eu-ro', events: [{ n: 999, time: 'now', event: { type: 'pull' } }] });
    const r = await fetch(`${primary.url}/audit/regions/ingest`, {
      method: 'POST',
      body,
      headers: { 'Cairn-Region-Signature': Buffer.alloc(64).toString('base64') },
    });
    expect(r.status).toBe(403);
    const unknown = await fetch(`${primary.url}/audit/regions/ingest`, {
      method: 'POST',
      body: JSON.stringify({ origin: 'nowhere', events: [] }),
    });
    expect(unknown.status).toBe(404);
  });
});

describe('a read-only region with token authentication', () => {
  let pg: PgPair;
  let primary: TestRegistry;
  let region: TestRegistry;
  let tmp: string;

  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'cairn-region-auth-'));
    pg = await startPgPair();
    primary = await startTestRegistry(SQLITE, { database: pg.primaryUrl, auth: { mode: 'token' } });
    await pg.caughtUp();
    region = await startTestRegistry(SQLITE, {
      mode: 'read-only',
      primary: primary.url,
      database: pg.standbyUrl,
      storage: `file://${path.join(primary.dataDir, 'blobs')}`,
      auth: { mode: 'token' },
      audit: { origin: 'eu-ro-auth' },
    });
  });
  afterAll(async () => {
    await region?.close();
    await primary?.close();
    await pg?.close();
    await rm(tmp, { recursive: true, force: true });
  });

  it('logs users in with the accounts of the primary and serves them, writing nothing', async () => {
    const password = (await readFile(path.join(primary.dataDir, 'admin-password'), 'utf8')).trim();
    const env = cleanEnv({
      CAIRN_CONFIG_DIR: path.join(tmp, 'config'),
      CAIRN_USERNAME: 'admin',
      CAIRN_PASSWORD: password,
    });
    const dir = path.join(tmp, 'model');
    await mkdir(dir);
    await writeFile(path.join(dir, 'weights.bin'), random(100_000));
    const pushed = await cairn(['push', 'model', dir, `${new URL(primary.url).host}/ml/auth:v1`, '-q'], env);
    expect(pushed.code).toBe(0);
    await pg.caughtUp();
    const out = path.join(tmp, 'out');
    const pulled = await cairn(['pull', `${new URL(region.url).host}/ml/auth:v1`, out, '-q'], env);
    expect(pulled.stderr).toBe('');
    expect(pulled.code).toBe(0);
    expect((await readFile(path.join(out, 'weights.bin'))).equals(await readFile(path.join(dir, 'weights.bin')))).toBe(
      true,
    );
    const basic = (p: string) => ({ Authorization: `Basic ${Buffer.from(`admin:${p}`).toString('base64')}` });
    // docker login asks for a refresh token: the region answers without one (it cannot store it).
    const offline = await fetch(`${region.url}/token?service=cairn&offline_token=true`, { headers: basic(password) });
    expect(offline.status).toBe(200);
    const body = (await offline.json()) as { token?: string; refresh_token?: string };
    expect(body.token).toEqual(expect.any(String));
    expect(body.refresh_token).toBeUndefined();
    // A wrong password is a plain 401 there, not a failed write.
    expect((await fetch(`${region.url}/token?service=cairn`, { headers: basic('wrong-password') })).status).toBe(401);
  });
});
