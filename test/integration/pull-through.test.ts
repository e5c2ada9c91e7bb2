import { createHash, generateKeyPairSync } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { adminPassword, startAuthRegistry } from '../helpers/auth';
import { cairn, cleanEnv, waitFor, writeBigFile } from '../helpers/cli-transfer';
import { startTestRegistry, type TestRegistry } from '../helpers/server';
import { freePort } from '../helpers/ports';
import type { Actor } from '../../src/core/actor';

const SQLITE = { database: 'sqlite', sessions: 'memory' } as const;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const sha256 = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** An upstream that serves one image whose layer bytes are not the ones its digest names. */
async function lyingUpstream(): Promise<{ url: string; close(): Promise<void>; layer: string }> {
  const config = Buffer.from('{}');
  const claimed = Buffer.from('the bytes the manifest names');
  const sent = Buffer.from('other bytes of the same size!');
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: sha256(claimed), size: sent.length }],
    }),
  );
  const server = http.createServer((req, res) => {
    const url = req.url ?? '';
    const send = (status: number, body: Buffer, type = 'application/octet-stream') => {
      res.writeHead(status, { 'Content-Type': type, 'Content-Length': body.length });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (url === '/v2/') return send(200, Buffer.from('{}'), 'application/json');
    if (url.endsWith('/manifests/v1') || url.endsWith(`/manifests/${sha256(manifest)}`))
      return send(200, manifest, OCI_MANIFEST);
    if (url.endsWith(`/blobs/${sha256(config)}`)) return send(200, config);
    if (url.endsWith(`/blobs/${sha256(claimed)}`)) return send(200, sent);
    send(404, Buffer.from('{"errors":[{"code":"NOT_FOUND","message":"no"}]}'), 'application/json');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    layer: sha256(claimed),
    close: () => new Promise((r) => server.close(() => r())),
  };
}

describe('pull-through caches of upstream registries', () => {
  let tmp: string;
  let env: NodeJS.ProcessEnv;
  let upstream: TestRegistry;
  let cache: TestRegistry;
  let liar: Awaited<ReturnType<typeof lyingUpstream>>;
  let upEnv: NodeJS.ProcessEnv;
  let signed: string;
  const release = generateKeyPairSync('ec', { namedCurve: 'P-256' });

  async function model(name: string, mib: number): Promise<string> {
    const dir = path.join(tmp, name);
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'config.json'), JSON.stringify({ name }));
    await writeBigFile(path.join(dir, 'model.safetensors'), mib);
    return dir;
  }
  async function pushUpstream(name: string, ref: string, mib = 2): Promise<string> {
    const r = await cairn(
      ['push', 'model', await model(name, mib), `${new URL(upstream.url).host}/${ref}`, '-q'],
      upEnv,
    );
    expect(r.code).toBe(0);
    return r.stdout.trim().split('@')[1]!;
  }
  async function sign(ref: string): Promise<void> {
    const r = await cairn(
      ['sign', '--key', path.join(tmp, 'release.pem'), `${new URL(upstream.url).host}/${ref}`],
      upEnv,
    );
    expect(r.code).toBe(0);
  }
  const get = (ref: string, method = 'GET') =>
    fetch(`${cache.url}/v2/${ref}`, { method, headers: { Accept: OCI_MANIFEST } });

  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'cairn-pull-through-'));
    env = cleanEnv({ CAIRN_CONFIG_DIR: path.join(tmp, 'config') });
    await writeFile(path.join(tmp, 'release.pem'), release.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const cachePort = await freePort();
    // The upstream tells the cache to prefetch what it approves (the cache reads it back as admin).
    upstream = await startAuthRegistry(
      SQLITE,
      {},
      {
        replication: {
          sweepSeconds: 1,
          targets: [
            {
              name: 'edge-cache',
              url: `http://127.0.0.1:${cachePort}`,
              prefetch: 'hub',
              stages: ['approved'],
              repositories: ['ml/**'],
            },
          ],
        },
      },
    );
    upEnv = { ...env, CAIRN_USERNAME: 'admin', CAIRN_PASSWORD: await adminPassword(upstream) };
    const secret = path.join(tmp, 'upstream-password');
    await writeFile(secret, await adminPassword(upstream), { mode: 0o600 });
    signed = await pushUpstream('signed', 'ml/signed:v1', 4);
    await sign('ml/signed:v1');
    await pushUpstream('unsigned', 'ml/unsigned:v1');
    liar = await lyingUpstream();

    const policies = path.join(tmp, 'policies');
    await mkdir(policies);
    await writeFile(path.join(policies, 'release.pub'), release.publicKey.export({ type: 'spki', format: 'pem' }));
    await writeFile(
      path.join(policies, 'trust.yaml'),
      `keys:\n  - name: release\n    publicKeyFile: release.pub\npolicies:\n  - repositories: ["hub/ml/**"]\n    mode: enforce\n    signers: [{ key: release }]\n`,
    );
    cache = await startTestRegistry(SQLITE, {
      listen: `127.0.0.1:${cachePort}`,
      auth: { mode: 'none', policyDir: policies },
      proxies: [
        { prefix: 'hub', upstream: upstream.url, username: 'admin', passwordFile: secret, tagTtlSeconds: 1 },
        { prefix: 'liar', upstream: liar.url },
      ],
    });
  });
  afterAll(async () => {
    await cache?.close();
    await upstream?.close();
    await liar?.close();
    await rm(tmp, { recursive: true, force: true });
  });

  it('fetches, verifies, stores and serves a signed model on first pull, and audits both the fetch and the pull', async () => {
    const out = path.join(tmp, 'out');
    const r = await cairn(['pull', `${new URL(cache.url).host}/hub/ml/signed:v1`, out, '--part-size', '1'], env);
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(`hub/ml/signed@${signed}`);
    const pulled = await readFile(path.join(out, 'model.safetensors'));
    expect(pulled.equals(await readFile(path.join(tmp, 'signed', 'model.safetensors')))).toBe(true);
    // Cached: manifest, every layer, and the signature that let the trust policy serve it.
    const { catalog } = cache.registry.services;
    expect((await catalog.getManifest('hub/ml/signed', 'v1'))?.digest).toBe(signed);
    const referrers = await catalog.listReferrers('hub/ml/signed', signed);
    expect(referrers.length).toBeGreaterThanOrEqual(1);
    const events = await cache.registry.audit.search({ repository: 'hub/ml/signed' });
    expect(events.filter((e) => e.type === 'manifest.push').map((e) => e.identity)).toContain('proxy:hub');
    // Every blob came from the upstream (the registry's own receipts aside).
    const pushed = events.filter((e) => e.type === 'blob.push' && e.detail?.upload !== 'receipt');
    expect(pushed.length).toBeGreaterThanOrEqual(2);
    expect(pushed.every((e) => e.identity === 'proxy:hub' && e.detail?.upload === 'proxy')).toBe(true);
    expect(events.some((e) => e.type === 'pull' && e.identity !== 'proxy:hub')).toBe(true);
  });

  it('applies the trust policy to cached content: an unsigned upstream model is refused', async () => {
    const r = await get('hub/ml/unsigned/manifests/v1');
    expect(r.status).toBe(403);
    expect(((await r.json()) as { errors: { code: string }[] }).errors[0]!.code).toBe('DENIED');
  });

  it('prefetches on request, and when the upstream promotes an artifact, before anyone pulls it', async () => {
    const asked = await fetch(`${cache.url}/v2/hub/ml/signed/_cairn/prefetch/v1`, { method: 'POST' });
    expect(asked.status).toBe(200);
    expect(await asked.json()).toMatchObject({
      repository: 'hub/ml/signed',
      digest: expect.stringMatching(/^sha256:/),
    });
    const notCache = await fetch(`${cache.url}/v2/local/thing/_cairn/prefetch/v1`, { method: 'POST' });
    expect(notCache.status).toBe(404);

    const digest = await pushUpstream('promoted', 'ml/promoted:v1', 3);
    await sign('ml/promoted:v1');
    const person = (id: string): Actor => ({ id, kind: 'user', authenticatedBy: 'local', can: () => true });
    const { artifacts, core, catalog } = upstream.registry.services;
    await core.lifecycle.move(person('user:alice'), (await artifacts.get('ml/promoted', digest))!, 'candidate');
    await core.lifecycle.move(person('user:bob'), (await artifacts.get('ml/promoted', digest))!, 'approved');
    const layers = (
      JSON.parse((await catalog.getManifest('ml/promoted', digest))!.content.toString()) as {
        layers: { digest: string }[];
      }
    ).layers.map((l) => l.digest);
    await waitFor(
      async () => {
        await upstream.registry.services.replication!.settled();
        for (const l of layers)
          if (!(await cache.registry.services.catalog.getBlobLink('hub/ml/promoted', l))) return undefined;
        return true;
      },
      30_000,
      'the cache to hold every layer of the promoted model',
      100,
    );
    const fetched = await cache.registry.audit.search({ repository: 'hub/ml/promoted' });
    expect(fetched.filter((e) => e.type === 'pull')).toEqual([]);
    expect(fetched.filter((e) => e.type === 'blob.push' && e.identity === 'proxy:hub').length).toBeGreaterThanOrEqual(
      layers.length,
    );
  });

  it('re-checks a tag upstream after its TTL, and serves the cache while the upstream is down', async () => {
    const moved = await pushUpstream('signed-2', 'ml/signed:v1');
    await sign('ml/signed:v1');
    await new Promise((r) => setTimeout(r, 1100));
    const fresh = await get('hub/ml/signed/manifests/v1');
    expect(fresh.status).toBe(200);
    expect(fresh.headers.get('docker-content-digest')).toBe(moved);

    await upstream.stop();
    await new Promise((r) => setTimeout(r, 1100));
    const stale = await get('hub/ml/signed/manifests/v1');
    expect(stale.status).toBe(200);
    expect(stale.headers.get('docker-content-digest')).toBe(moved);
    const earlier = await get(`hub/ml/signed/manifests/${signed}`);
    expect(earlier.status).toBe(200);
    // Never fetched, and the upstream is away: said plainly.
    const missing = await get('hub/ml/never-pulled/manifests/v1');
    expect(missing.status).toBe(503);
    expect(((await missing.json()) as { errors: { code: string }[] }).errors[0]!.code).toBe('UNAVAILABLE');
    upstream = await upstream.restart();
  });

  it('keeps the namespace for the upstream: pushes into it are refused', async () => {
    const r = await fetch(`${cache.url}/v2/hub/ml/mine/blobs/uploads/`, { method: 'POST' });
    expect(r.status).toBe(403);
    expect(await r.text()).toMatch(/pull-through cache/);
  });

  it('refuses upstream bytes that do not match their digest: the client gets no whole blob and nothing is stored', async () => {
    const m = await get('liar/img/manifests/v1');
    expect(m.status).toBe(200);
    const res = await fetch(`${cache.url}/v2/liar/img/blobs/${liar.layer}`);
    const body = await res.arrayBuffer().then(
      (b) => Buffer.from(b),
      () => undefined,
    );
    // Either the status says so, or the transfer was cut: never the full announced length.
    expect(res.status === 200 && body?.length === 29).toBe(false);
    expect(await cache.registry.services.catalog.getBlobLink('liar/img', liar.layer)).toBeUndefined();
    const again = await fetch(`${cache.url}/v2/liar/img/blobs/${liar.layer}`, { method: 'HEAD' });
    expect(again.status).not.toBe(200);
  });
});
