import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';
import { PROFILES, profileName, startTestRegistry, type TestRegistry } from '../helpers/server';
import { GcBusy, collectGarbage } from '../../src/maintenance/gc';
import { errorCode, imageManifest, pushBlob, pushManifest, random, sha256 } from './http-client';

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.each(PROFILES.slice(0, 2).map((p) => [profileName(p), p] as const))(
  'garbage collection (%s)',
  (_name, profile) => {
    let reg: TestRegistry;
    beforeAll(async () => {
      reg = await startTestRegistry(profile);
    });
    afterAll(async () => reg.close());
    const gc = () => {
      const s = reg.registry.services;
      return collectGarbage(s.blobs, s.catalog, 0, s.logger);
    };

    it('reclaims unreferenced blobs, keeps referenced ones and open uploads', async () => {
      const orphan = random(1000);
      const orphanDigest = await pushBlob(reg.url, 'gc/a', orphan);
      const config = random(50);
      const layer = random(2000);
      const cd = await pushBlob(reg.url, 'gc/a', config);
      const ld = await pushBlob(reg.url, 'gc/a', layer);
      await pushManifest(reg.url, 'gc/a', 'v1', imageManifest({ digest: cd, size: 50 }, [{ digest: ld, size: 2000 }]));
      // An open upload with staged bytes.
      const open = await fetch(`${reg.url}/v2/gc/a/blobs/uploads/`, { method: 'POST' });
      const location = open.headers.get('location')!;
      const part = random(300);
      expect(
        (
          await fetch(new URL(location, reg.url), {
            method: 'PATCH',
            body: part,
            headers: { 'Content-Range': '0-299' },
          })
        ).status,
      ).toBe(202);

      // The receipt of v1 is written in the background, its blobs linked a moment before its manifest
      // refers to them: a collector with no grace period (this test's) must not run in between.
      await reg.registry.services.receipts!.settled();
      await sleep(30);
      const result = await gc();
      expect(result.blobsRemoved).toBe(1);
      expect(result.bytesFreed).toBe(1000);
      expect(result.linksRemoved).toBe(1);
      expect(await reg.registry.services.blobs.stat(orphanDigest)).toBeUndefined();
      expect((await fetch(`${reg.url}/v2/gc/a/blobs/${orphanDigest}`)).status).toBe(404);
      for (const [d, data] of [
        [cd, config],
        [ld, layer],
      ] as const) {
        const r = await fetch(`${reg.url}/v2/gc/a/blobs/${d}`);
        expect(r.status).toBe(200);
        expect(Buffer.from(await r.arrayBuffer()).equals(data)).toBe(true);
      }
      const done = await fetch(new URL(`${location}?digest=${sha256(part)}`, reg.url), { method: 'PUT' });
      expect(done.status).toBe(201);
    });

    it('runs one collector at a time, whichever replica starts it', async () => {
      const s = reg.registry.services;
      // Another replica's collector holds the lease (taken directly: two runs started together on a tiny
      // catalog may simply not overlap).
      expect(await s.catalog.acquireLease('gc', 'replica-b', 60_000)).toBe(true);
      await expect(collectGarbage(s.blobs, s.catalog, 0, s.logger)).rejects.toBeInstanceOf(GcBusy);
      await s.catalog.releaseLease('gc', 'replica-b');
      // Two started at once: at most one runs at any moment, and neither fails for another reason.
      const results = await Promise.allSettled([
        collectGarbage(s.blobs, s.catalog, 0, s.logger),
        collectGarbage(s.blobs, s.catalog, 0, s.logger),
      ]);
      expect(results.filter((r) => r.status === 'fulfilled').length).toBeGreaterThanOrEqual(1);
      for (const r of results) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(GcBusy);
      // The lease is released when a run ends.
      await expect(collectGarbage(s.blobs, s.catalog, 0, s.logger)).resolves.toBeDefined();
    });

    it('keeps what is younger than the grace period', async () => {
      const d = await pushBlob(reg.url, 'gc/young', random(100));
      const s = reg.registry.services;
      const r = await collectGarbage(s.blobs, s.catalog, 3_600_000, s.logger);
      expect(r.blobsRemoved).toBe(0);
      expect((await fetch(`${reg.url}/v2/gc/young/blobs/${d}`)).status).toBe(200);
    });

    it('never leaves a manifest pointing at collected bytes while pushes race the collector', async () => {
      const shared = random(4096);
      let stop = false;
      const collector = (async () => {
        let runs = 0;
        while (!stop) {
          await gc();
          runs++;
          // Back to back, a zero-grace collector can win every race; a breath lets some pushes through.
          await new Promise((r) => setTimeout(r, 5));
        }
        return runs;
      })();
      const pushed: { repo: string; digest: string }[] = [];
      for (let i = 0; i < 12; i++) {
        const repo = `gc/race${i}`;
        for (let attempt = 0; attempt < 10; attempt++) {
          const digest = await pushBlob(reg.url, repo, shared);
          const cfg = await pushBlob(reg.url, repo, Buffer.from(`{"i":${i}}`));
          const body = JSON.stringify(
            imageManifest({ digest: cfg, size: Buffer.byteLength(`{"i":${i}}`) }, [{ digest, size: shared.length }]),
          );
          const r = await fetch(`${reg.url}/v2/${repo}/manifests/v1`, {
            method: 'PUT',
            headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
            body,
          });
          if (r.status === 201) {
            pushed.push({ repo, digest });
            break;
          }
          // The collector removed the fresh link first: the registry says so, and the client pushes again.
          expect(r.status).toBe(400);
          expect(await errorCode(r)).toBe('MANIFEST_BLOB_UNKNOWN');
        }
      }
      stop = true;
      expect(await collector).toBeGreaterThan(0);
      // With a zero grace period the collector may win every time for a repository; what matters is that
      // some pushes got through while it ran, and that none of them lost its bytes.
      expect(pushed.length).toBeGreaterThan(0);
      await gc();
      for (const { repo, digest } of pushed) {
        const r = await fetch(`${reg.url}/v2/${repo}/blobs/${digest}`);
        expect(r.status).toBe(200);
        expect(Buffer.from(await r.arrayBuffer()).equals(shared)).toBe(true);
      }
    });
  },
);

describe('cairn gc, as a separate process while the registry serves', () => {
  let reg: TestRegistry;
  beforeAll(async () => {
    reg = await startTestRegistry({ database: 'sqlite', sessions: 'memory' });
  });
  afterAll(async () => reg.close());

  it('collects an orphan blob and reports what it did', async () => {
    const orphan = await pushBlob(reg.url, 'gc/cli', random(777));
    const kept = random(10);
    const keptDigest = await pushBlob(reg.url, 'gc/cli', kept);
    await pushManifest(reg.url, 'gc/cli', 'v1', imageManifest({ digest: keptDigest, size: 10 }, []));
    await sleep(1100);
    const bin = path.join(__dirname, '..', '..', 'bin', 'cairn.js');
    const { stdout } = await run(process.execPath, [bin, 'gc', '--grace', '1'], {
      env: { ...process.env, CAIRN_DATA_DIR: reg.dataDir, CAIRN_LOG_LEVEL: 'warn' },
      timeout: 60_000,
    });
    const report = JSON.parse(stdout.trim().split('\n').pop()!);
    expect(report).toMatchObject({ blobsRemoved: 1, bytesFreed: 777, linksRemoved: 1, dryRun: false });
    expect((await fetch(`${reg.url}/v2/gc/cli/blobs/${orphan}`)).status).toBe(404);
    const r = await fetch(`${reg.url}/v2/gc/cli/blobs/${keptDigest}`);
    expect(Buffer.from(await r.arrayBuffer()).equals(kept)).toBe(true);
  });
});
