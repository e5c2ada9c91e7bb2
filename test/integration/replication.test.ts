import { generateKeyPairSync } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { adminPassword, startAuthRegistry, token } from '../helpers/auth';
import { cairn, cleanEnv, waitFor, writeBigFile } from '../helpers/cli-transfer';
import { startDistribution } from '../helpers/distribution';
import { freePort } from '../helpers/ports';
import { serveCairn, stopCairn } from '../helpers/cairn-process';
import { startTestRegistry, type TestRegistry } from '../helpers/server';
import type { ConfigInput } from '../../src/config/config';
import type { Actor } from '../../src/core/actor';
import { RECEIPT_TYPE } from '../../src/signing/receipts';

const SQLITE = { database: 'sqlite', sessions: 'memory' } as const;
const DIST_USER = { name: 'replicator', password: 'dist-password-42' };
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

const person = (id: string): Actor => ({ id, kind: 'user', authenticatedBy: 'local', can: () => true });

/** Waits until every target of `reg` has looked at the whole log without an error (receipts first). */
async function converged(reg: TestRegistry, timeoutMs = 60_000): Promise<void> {
  const { receipts, replication } = reg.registry.services;
  await waitFor(
    async () => {
      await receipts?.settled();
      await replication!.settled();
      const status = await replication!.status();
      return status.every((t) => t.lagEvents === 0 && !t.lastError) ? true : undefined;
    },
    timeoutMs,
    'replication to catch up',
    100,
  );
}

async function manifestOf(
  url: string,
  repo: string,
  ref: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; digest: string | null; body: Buffer }> {
  const r = await fetch(`${url}/v2/${repo}/manifests/${ref}`, {
    headers: { Accept: `${OCI_MANIFEST}, application/vnd.oci.image.index.v1+json`, ...headers },
  });
  return { status: r.status, digest: r.headers.get('docker-content-digest'), body: Buffer.from(await r.arrayBuffer()) };
}

const basic = (u: { name: string; password: string }) => ({
  Authorization: `Basic ${Buffer.from(`${u.name}:${u.password}`).toString('base64')}`,
});

describe('push replication to another Cairn and to CNCF Distribution 2.8', () => {
  let tmp: string;
  let env: NodeJS.ProcessEnv;
  let keyFile: string;
  let pubFile: string;
  const started: { close(): Promise<void> }[] = [];

  beforeAll(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'cairn-replication-'));
    env = cleanEnv({ CAIRN_CONFIG_DIR: path.join(tmp, 'config') });
    const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    keyFile = path.join(tmp, 'p256.pem');
    pubFile = path.join(tmp, 'p256.pub');
    await writeFile(keyFile, p256.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    await writeFile(pubFile, p256.publicKey.export({ type: 'spki', format: 'pem' }));
  });
  afterAll(async () => {
    for (const s of started.reverse()) await s.close().catch(() => undefined);
    delete process.env.REPL_DIST_PASSWORD;
    await rm(tmp, { recursive: true, force: true });
  });

  async function modelDir(name: string, mib = 0): Promise<string> {
    const dir = path.join(tmp, name);
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'config.json'), JSON.stringify({ hidden_size: 8, name }));
    if (mib) await writeBigFile(path.join(dir, 'model.safetensors'), mib);
    else await writeFile(path.join(dir, 'model.safetensors'), Buffer.from(`weights of ${name}`));
    return dir;
  }

  async function push(url: string, dir: string, ref: string, extra: NodeJS.ProcessEnv = {}): Promise<string> {
    const r = await cairn(['push', 'model', dir, `${new URL(url).host}/${ref}`, '-q'], { ...env, ...extra });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    return r.stdout.trim().split('\n').pop()!.split('@')[1]!;
  }

  it('sends blobs, manifests, tags, signatures and receipts; mounts what the target has; any OCI registry will do', async () => {
    const b = await startAuthRegistry(SQLITE, {}, { audit: { origin: 'cairn-b' } });
    started.push(b);
    const bPassword = path.join(tmp, 'b-password');
    await writeFile(bPassword, `${await adminPassword(b)}\n`, { mode: 0o600 });
    const dist = await startDistribution({ user: DIST_USER });
    started.push(dist);
    process.env.REPL_DIST_PASSWORD = DIST_USER.password;
    const a = await startTestRegistry(SQLITE, {
      audit: { origin: 'cairn-a' },
      replication: {
        sweepSeconds: 1,
        retryMaxSeconds: 1,
        targets: [
          { name: 'region-b', url: b.url, username: 'admin', passwordFile: bPassword, repositories: ['ml/**'] },
          {
            name: 'distribution',
            url: dist.url,
            username: DIST_USER.name,
            passwordEnv: 'REPL_DIST_PASSWORD',
            repositories: ['ml/**'],
          },
        ],
      },
    });
    started.push(a);

    const dir = await modelDir('bert', 3);
    const digest = await push(a.url, dir, 'ml/bert:v1');
    // The same files under another repository: the target mounts them instead of taking them again.
    await push(a.url, dir, 'ml/bert-copy:v1');
    const host = new URL(a.url).host;
    expect((await cairn(['sign', '--key', keyFile, `${host}/ml/bert:v1`], env)).code).toBe(0);
    // Outside the target's patterns: stays here.
    await push(a.url, await modelDir('private'), 'secret/model:v1');
    await converged(a);

    const adminB = {
      Authorization: `Bearer ${await token(b.url, 'admin', await adminPassword(b), ['repository:ml/bert:pull', 'repository:ml/bert-copy:pull', 'repository:secret/model:pull'])}`,
    };
    const onA = await manifestOf(a.url, 'ml/bert', 'v1');
    const onB = await manifestOf(b.url, 'ml/bert', 'v1', adminB);
    expect(onB.status).toBe(200);
    expect(onB.digest).toBe(digest);
    expect(onB.body.equals(onA.body)).toBe(true);
    const parsed = JSON.parse(onA.body.toString()) as { config: { digest: string }; layers: { digest: string }[] };
    for (const blob of [parsed.config.digest, ...parsed.layers.map((l) => l.digest)]) {
      const bytesA = Buffer.from(await (await fetch(`${a.url}/v2/ml/bert/blobs/${blob}`)).arrayBuffer());
      const bytesB = Buffer.from(
        await (await fetch(`${b.url}/v2/ml/bert/blobs/${blob}`, { headers: adminB })).arrayBuffer(),
      );
      expect(bytesB.equals(bytesA)).toBe(true);
      const d = await fetch(`${dist.url}/v2/ml/bert/blobs/${blob}`, { headers: basic(DIST_USER) });
      expect(Buffer.from(await d.arrayBuffer()).equals(bytesA)).toBe(true);
    }
    expect((await manifestOf(b.url, 'secret/model', 'v1', adminB)).status).not.toBe(200);
    // Mounted at the target, not sent twice: B's own audit log says so.
    const weights = parsed.layers.map((l) => l.digest);
    const copyEvents = await b.registry.audit.search({ repository: 'ml/bert-copy' });
    const byType = (type: string) => copyEvents.filter((e) => e.type === type).map((e) => e.digest);
    expect(byType('blob.mount')).toEqual(expect.arrayContaining(weights));
    for (const w of weights) expect(byType('blob.push')).not.toContain(w);

    // Every referrer (the signature, the registry's receipt) is on both targets, byte for byte.
    const referrers = await a.registry.services.catalog.listReferrers('ml/bert', digest);
    expect(referrers.map((r) => r.artifactType)).toEqual(expect.arrayContaining([RECEIPT_TYPE]));
    expect(referrers.length).toBeGreaterThanOrEqual(2);
    for (const r of referrers) {
      const here = await manifestOf(a.url, 'ml/bert', r.digest);
      expect((await manifestOf(b.url, 'ml/bert', r.digest, adminB)).body.equals(here.body)).toBe(true);
      expect((await manifestOf(dist.url, 'ml/bert', r.digest, basic(DIST_USER))).digest).toBe(r.digest);
    }
    // The signature verifies at the target, from what the target serves.
    const bEnv = { ...env, CAIRN_USERNAME: 'admin', CAIRN_PASSWORD: await adminPassword(b) };
    const verified = await cairn(['verify', '--key', pubFile, `${new URL(b.url).host}/ml/bert:v1`], bEnv);
    expect(verified.stderr).toBe('');
    expect(verified.code).toBe(0);
    // Distribution has the tag too.
    expect((await manifestOf(dist.url, 'ml/bert', 'v1', basic(DIST_USER))).digest).toBe(digest);

    // The status API, the CLI and the metrics agree.
    const api = (await (await fetch(`${a.url}/admin/replication`)).json()) as { targets: Record<string, unknown>[] };
    expect(api.targets.map((t) => [t.name, t.lagEvents, t.failedEvents])).toEqual([
      ['region-b', 0, 0],
      ['distribution', 0, 0],
    ]);
    expect(api.targets[0]!.lastSentAt).toEqual(expect.any(String));
    const metrics = await (await fetch(`${a.url}/metrics`)).text();
    expect(metrics).toMatch(/cairn_replication_lag_events\{target="distribution"\} 0/);
    expect(metrics).toMatch(/cairn_replication_failing\{target="region-b"\} 0/);
  });

  it('survives a target that is down: lag and the error are shown, and it catches up when the target returns', async () => {
    const port = await freePort();
    const dist = await startDistribution({ port, startNow: false });
    started.push(dist);
    const a = await startTestRegistry(SQLITE, {
      replication: { sweepSeconds: 1, retryMaxSeconds: 1, targets: [{ name: 'later', url: dist.url }] },
    });
    started.push(a);
    const digests = [];
    for (let i = 0; i < 3; i++) digests.push(await push(a.url, await modelDir(`down-${i}`), `ml/down:v${i}`));
    const stalled = await waitFor(
      async () => {
        const [t] = await a.registry.services.replication!.status();
        return t!.lastError ? t : undefined;
      },
      30_000,
      'the failure to show',
      100,
    );
    expect(stalled.lagEvents).toBeGreaterThan(0);
    expect(stalled.lastError).toMatch(/ECONNREFUSED|connect/);
    const status = await cairn(['replication', 'status', '-c', await configFile(a)], env);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout).targets[0]).toMatchObject({ name: 'later', lastError: expect.any(String) });

    await dist.start();
    await converged(a);
    for (let i = 0; i < 3; i++) expect((await manifestOf(dist.url, 'ml/down', `v${i}`)).digest).toBe(digests[i]);
  });

  it('sends only approved artifacts to a target with stages: the promotion sends it, with its tags and signatures', async () => {
    const b = await startTestRegistry(SQLITE, { audit: { origin: 'approved-only' } });
    started.push(b);
    const a = await startTestRegistry(SQLITE, {
      replication: {
        sweepSeconds: 1,
        targets: [{ name: 'prod', url: b.url, repositories: ['gov/**'], stages: ['approved'], deletes: true }],
      },
    });
    started.push(a);
    const digest = await push(a.url, await modelDir('gov'), 'gov/model:v1');
    expect((await cairn(['sign', '--key', keyFile, `${new URL(a.url).host}/gov/model:v1`], env)).code).toBe(0);
    await converged(a);
    expect((await manifestOf(b.url, 'gov/model', 'v1')).status).toBe(404);

    const { artifacts, core } = a.registry.services;
    await core.lifecycle.move(person('user:alice'), (await artifacts.get('gov/model', digest))!, 'candidate');
    await converged(a);
    expect((await manifestOf(b.url, 'gov/model', digest)).status).toBe(404);
    await core.lifecycle.move(person('user:bob'), (await artifacts.get('gov/model', digest))!, 'approved');
    await converged(a);
    expect((await manifestOf(b.url, 'gov/model', 'v1')).digest).toBe(digest);
    const signed = await a.registry.services.catalog.listReferrers('gov/model', digest);
    for (const r of signed) expect((await manifestOf(b.url, 'gov/model', r.digest)).digest).toBe(r.digest);
    const verified = await cairn(['verify', '--key', pubFile, `${new URL(b.url).host}/gov/model:v1`], env);
    expect(verified.code).toBe(0);

    // deletes: true carries a tag deletion over.
    expect((await fetch(`${a.url}/v2/gov/model/manifests/v1`, { method: 'DELETE' })).status).toBe(202);
    await converged(a);
    expect((await manifestOf(b.url, 'gov/model', 'v1')).status).toBe(404);
    expect((await manifestOf(b.url, 'gov/model', digest)).status).toBe(200);
  });

  it('two registries replicating to each other do not loop: a tag moved twice ends where it was put last, on both', async () => {
    const ports = [await freePort(), await freePort()];
    const url = (p: number) => `http://127.0.0.1:${p}`;
    const make = (origin: string, listen: number, peer: number): ConfigInput => ({
      listen: `127.0.0.1:${listen}`,
      // Pulls unrecorded: the quiet check below counts events, and the test's own reads would add some.
      audit: { origin, pulls: false },
      replication: { sweepSeconds: 1, targets: [{ name: 'peer', url: url(peer), deletes: true }] },
    });
    const east = await startTestRegistry(SQLITE, make('east', ports[0]!, ports[1]!));
    started.push(east);
    const west = await startTestRegistry(SQLITE, make('west', ports[1]!, ports[0]!));
    started.push(west);
    const first = await push(east.url, await modelDir('loop-1'), 'ml/loop:latest');
    const second = await push(east.url, await modelDir('loop-2'), 'ml/loop:latest');
    await converged(east);
    await converged(west);
    await converged(east);
    for (const r of [east, west]) expect((await manifestOf(r.url, 'ml/loop', 'latest')).digest).toBe(second);
    expect((await manifestOf(west.url, 'ml/loop', first)).status).toBe(200);
    // Quiet: another round adds no event on either side.
    const sizes = [await east.registry.audit.size(), await west.registry.audit.size()];
    await new Promise((r) => setTimeout(r, 1500));
    await converged(east);
    await converged(west);
    expect([await east.registry.audit.size(), await west.registry.audit.size()]).toEqual(sizes);
    // What west received came from east; its way back was refused as a loop, and nothing was given up.
    const back = (await west.registry.services.replication!.status())[0]!;
    expect(back.failedEvents).toBe(0);
    const received = await west.registry.audit.search({ repository: 'ml/loop' });
    // (Each registry's own receipts of what it received are its own pushes.)
    const pushes = received.filter((e) => e.type === 'manifest.push' && e.detail?.kind !== 'receipt');
    expect(pushes.length).toBeGreaterThanOrEqual(2);
    expect(pushes.every((e) => e.detail?.replicatedVia === 'east')).toBe(true);
  });

  it('converges after the sender is killed mid-replication: every digest identical, every signature verifiable', async () => {
    const targetPort = await freePort();
    const cfg = path.join(tmp, 'sender.yaml');
    await writeFile(
      cfg,
      JSON.stringify({
        audit: { origin: 'sender' },
        replication: {
          sweepSeconds: 1,
          retryMaxSeconds: 1,
          targets: [{ name: 'b', url: `http://127.0.0.1:${targetPort}` }],
        },
      }),
    );
    const dataDir = path.join(tmp, 'sender-data');
    let a = await serveCairn(dataDir, {}, ['--config', cfg]);
    const sender = { close: async () => stopCairn(a) };
    started.push(sender);
    // Everything is pushed while the target is down, so that the kill lands inside the catch-up.
    const digests: string[] = [];
    for (let i = 0; i < 10; i++) digests.push(await push(a.url, await modelDir(`kill-${i}`, 8), `ml/kill:v${i}`));
    const aHost = new URL(a.url).host;
    for (const i of [0, 9])
      expect((await cairn(['sign', '--key', keyFile, `${aHost}/ml/kill:v${i}`], env)).code).toBe(0);
    const b = await startTestRegistry(SQLITE, { listen: `127.0.0.1:${targetPort}`, audit: { origin: 'kill-target' } });
    started.push(b);
    await waitFor(
      async () => ((await manifestOf(b.url, 'ml/kill', 'v0')).status === 200 ? true : undefined),
      60_000,
      'the first artifact at the target',
      20,
    );
    a.child.kill('SIGKILL');
    await new Promise((r) => a.child.once('exit', r));
    const before = await Promise.all(digests.map(async (_, i) => (await manifestOf(b.url, 'ml/kill', `v${i}`)).status));
    expect(before.filter((s) => s === 200).length).toBeLessThan(digests.length);

    a = await serveCairn(dataDir, {}, ['--config', cfg]);
    await waitFor(
      async () => {
        const s = (await (await fetch(`${a.url}/admin/replication`)).json()) as {
          targets: { lagEvents: number; lastError?: string }[];
        };
        return s.targets[0]!.lagEvents === 0 && !s.targets[0]!.lastError ? true : undefined;
      },
      90_000,
      'the restarted sender to catch up',
      200,
    );
    for (let i = 0; i < digests.length; i++) {
      const there = await manifestOf(b.url, 'ml/kill', `v${i}`);
      expect(there.digest).toBe(digests[i]);
      expect(there.body.equals((await manifestOf(a.url, 'ml/kill', `v${i}`)).body)).toBe(true);
      const layers = (JSON.parse(there.body.toString()) as { layers: { digest: string; size: number }[] }).layers;
      for (const l of layers) {
        const head = await fetch(`${b.url}/v2/ml/kill/blobs/${l.digest}`, { method: 'HEAD' });
        expect([head.status, Number(head.headers.get('content-length'))]).toEqual([200, l.size]);
      }
    }
    const bHost = new URL(b.url).host;
    for (const i of [0, 9]) {
      const v = await cairn(['verify', '--key', pubFile, `${bHost}/ml/kill:v${i}`], env);
      expect(v.code).toBe(0);
    }
    expect((await b.registry.services.catalog.listReferrers('ml/kill', digests[9]!)).length).toBeGreaterThanOrEqual(2);
  });

  it('passes over a change the target refuses for good, records it, and goes on; cairn replicate sends one on demand', async () => {
    const policyDir = path.join(tmp, 'strict-policies');
    await mkdir(policyDir, { recursive: true });
    await writeFile(
      path.join(policyDir, 'governance.yaml'),
      `immutableTags:\n  - repositories: ["ml/**"]\n    tags: '^v[0-9]+$'\n`,
    );
    const b = await startTestRegistry(SQLITE, { auth: { mode: 'none', policyDir }, audit: { origin: 'strict' } });
    started.push(b);
    const a = await startTestRegistry(SQLITE, {
      replication: { sweepSeconds: 1, targets: [{ name: 'strict', url: b.url }] },
    });
    started.push(a);
    const first = await push(a.url, await modelDir('imm-1'), 'ml/imm:v1');
    await converged(a);
    // Here the tag moves; there it is immutable: that change can never land, and must not hold back the next.
    const moved = await push(a.url, await modelDir('imm-2'), 'ml/imm:v1');
    const next = await push(a.url, await modelDir('imm-3'), 'ml/imm:v2');
    const done = await waitFor(
      async () => {
        await a.registry.services.replication!.settled();
        const [t] = await a.registry.services.replication!.status();
        return t!.lagEvents === 0 ? t : undefined;
      },
      30_000,
      'the target to be caught up',
      100,
    );
    expect(done.failedEvents).toBe(1);
    expect(done.recentFailures[0]!.error).toMatch(/DENIED.*immutable/);
    expect((await manifestOf(b.url, 'ml/imm', 'v1')).digest).toBe(first);
    expect((await manifestOf(b.url, 'ml/imm', 'v2')).digest).toBe(next);
    const logged = await a.registry.audit.search({ identity: 'system' });
    expect(logged.filter((e) => e.type === 'replication.failed')).toEqual([
      expect.objectContaining({ detail: expect.objectContaining({ target: 'strict' }) }),
    ]);

    // One-off: the moved manifest by digest (the target keeps its tag), with what refers to it.
    const r = await cairn(['replicate', `ml/imm@${moved}`, '--to', 'strict', '-c', await configFile(a)], env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ target: 'strict', digest: moved, manifests: expect.any(Number) });
    expect((await manifestOf(b.url, 'ml/imm', moved)).status).toBe(200);
    const unknown = await cairn(['replicate', 'ml/imm:v1', '--to', 'nowhere', '-c', await configFile(a)], env);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toMatch(/no replication target "nowhere"/);
  });

  /** The registry's configuration as a file, for the CLI. */
  async function configFile(reg: TestRegistry): Promise<string> {
    const file = path.join(tmp, `config-${path.basename(reg.dataDir)}.yaml`);
    const { replication, dataDir, database, storage } = reg.config;
    await writeFile(file, JSON.stringify({ dataDir, database, storage, replication, log: { level: 'silent' } }));
    return file;
  }
});
