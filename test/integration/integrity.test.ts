import { execFile } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { random, sha256 } from '../conformance/client';
import { startTestRegistry, type TestRegistry } from '../helpers/server';
import { bucketOf, testS3 } from '../helpers/s3';
import { scrubBlobs } from '../../src/integrity/scrub';
import { S3BlobStore } from '../../src/storage/s3-blob-store';

const bin = path.join(__dirname, '..', '..', 'bin', 'cairn.js');

/** Flips one byte in the middle of a stored blob file, as a failing disk would. */
async function flipByte(reg: TestRegistry, digest: string): Promise<void> {
  const hex = digest.slice('sha256:'.length);
  const fh = await open(path.join(reg.dataDir, 'blobs', 'sha256', hex.slice(0, 2), hex), 'r+');
  const b = Buffer.alloc(1);
  await fh.read(b, 0, 1, 500);
  b[0] = b[0]! ^ 0xff;
  await fh.write(b, 0, 1, 500);
  await fh.close();
}

async function push(reg: TestRegistry, repo: string, data: Buffer): Promise<string> {
  const d = sha256(data);
  expect((await fetch(`${reg.url}/v2/${repo}/blobs/uploads/?digest=${d}`, { method: 'POST', body: data })).status).toBe(
    201,
  );
  return d;
}

describe('integrity of the stored bytes', () => {
  let reg: TestRegistry;
  let hook: http.Server;
  const alerts: { event: string; digest: string; where: string }[] = [];
  beforeAll(async () => {
    hook = http.createServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        alerts.push(JSON.parse(body));
        res.end();
      });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
    reg = await startTestRegistry(
      { database: 'sqlite', sessions: 'memory' },
      {
        blobs: { verifyOnRead: true, verifiedTtlSeconds: 0 },
        integrity: {
          scrubIntervalSeconds: 1,
          scrubBytesPerSecond: 0,
          alertWebhook: `http://127.0.0.1:${(hook.address() as AddressInfo).port}/alert`,
        },
      },
    );
  });
  afterAll(async () => {
    await reg.close();
    await new Promise((r) => hook.close(r));
  });

  it('a read of a flipped byte is cut short, quarantines the blob, logs an event, alerts, and a re-push repairs it', async () => {
    const data = random(300_000);
    const d = await push(reg, 'integrity/read', data);
    await flipByte(reg, d);
    await expect(fetch(`${reg.url}/v2/integrity/read/blobs/${d}`).then((r) => r.arrayBuffer())).rejects.toThrow();
    await new Promise((r) => setTimeout(r, 300));
    const again = await fetch(`${reg.url}/v2/integrity/read/blobs/${d}`);
    expect(again.status).toBe(404);
    expect(
      ((await again.json()) as { errors: { detail: { quarantined: boolean } }[] }).errors[0]!.detail.quarantined,
    ).toBe(true);
    expect(alerts).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ event: 'cairn.integrity.failure', digest: d, where: 'blob-read' }),
      ]),
    );
    await reg.registry.audit.flush();
    expect(await reg.registry.audit.search({ digest: d })).toEqual(
      expect.arrayContaining([expect.objectContaining({ type: 'integrity.failure' })]),
    );
    expect(await (await fetch(`${reg.url}/metrics`)).text()).toMatch(
      /cairn_integrity_failures_total\{where="blob-read"\} 1/,
    );
    // Pushing the right bytes again replaces the corrupt copy.
    await push(reg, 'integrity/read', data);
    const repaired = await fetch(`${reg.url}/v2/integrity/read/blobs/${d}`);
    expect(Buffer.from(await repaired.arrayBuffer()).equals(data)).toBe(true);
  });

  it('the background scrubber finds a corrupted blob nobody reads, within seconds', async () => {
    const d = await push(reg, 'integrity/cold', random(200_000));
    const t0 = Date.now();
    await flipByte(reg, d);
    while (!alerts.some((a) => a.digest === d) && Date.now() - t0 < 20_000)
      await new Promise((r) => setTimeout(r, 100));
    const detectedIn = Date.now() - t0;
    expect(alerts).toEqual(expect.arrayContaining([expect.objectContaining({ digest: d, where: 'scrub' })]));
    // One-second passes: detection within a pass or two (time to detect ≈ interval + pass time).
    expect(detectedIn).toBeLessThan(20_000);
    expect((await fetch(`${reg.url}/v2/integrity/cold/blobs/${d}`)).status).toBe(404);
    const metrics = await (await fetch(`${reg.url}/metrics`)).text();
    expect(metrics).toMatch(/cairn_scrub_blobs_checked_total [1-9]/);
    expect(metrics).toMatch(/cairn_scrub_last_full_pass_timestamp_seconds \d/);
  });

  it('cairn scrub exits 0 on intact storage and 1 naming each corrupt blob', async () => {
    const other = await startTestRegistry({ database: 'sqlite', sessions: 'memory' });
    try {
      const a = await push(other, 'scrub/a', random(100_000));
      const b = await push(other, 'scrub/b', random(100_000));
      await other.stop();
      const env = { ...process.env, CAIRN_DATA_DIR: other.dataDir, CAIRN_LOG_LEVEL: 'silent' };
      const run = () =>
        new Promise<{ code: number; stdout: string }>((resolve) =>
          execFile(process.execPath, [bin, 'scrub'], { env, timeout: 60_000 }, (err, stdout) =>
            resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout }),
          ),
        );
      expect(await run()).toMatchObject({ code: 0, stdout: expect.stringMatching(/2 blob\(s\).*all intact/) });
      await flipByte(other, b);
      const bad = await run();
      expect(bad.code).toBe(1);
      expect(bad.stdout).toContain(`CORRUPT ${b}`);
      expect(bad.stdout).not.toContain(`CORRUPT ${a}`);
      expect(bad.stdout).toMatch(/1 CORRUPT/);
    } finally {
      await other.close();
    }
  });

  (testS3() ? it : it.skip)('scrubs S3 storage the same way', async () => {
    const s3reg = await startTestRegistry(
      { database: 'sqlite', sessions: 'memory', storage: 's3' },
      { integrity: { scrubIntervalSeconds: 0 } },
    );
    try {
      const d = await push(s3reg, 'scrub/s3', random(50_000));
      const store = s3reg.registry.services.blobs as S3BlobStore;
      const { client, bucket } = bucketOf(s3reg.config.storage);
      const hex = d.slice('sha256:'.length);
      await client.putObject(bucket, `sha256/${hex.slice(0, 2)}/${hex}`, random(50_000));
      const r = await scrubBlobs(store);
      expect(r.corrupt.map((c) => c.digest)).toEqual([d]);
    } finally {
      await s3reg.close();
    }
  });
});
