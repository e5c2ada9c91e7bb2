import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import BetterSqlite3 from 'better-sqlite3';
import type * as Minio from 'minio';
import { startRegistry, type Registry } from '../../src/app';
import type { Config } from '../../src/config/config';
import { writeKeyFile } from '../../src/keys/key-encryption';
import { cairn } from '../helpers/cli';
import { startTestRegistry, type TestRegistry } from '../helpers/server';
import { bucketOf, testS3 } from '../helpers/s3';
import { createRedisPrefix } from '../helpers/services';
import { serveCairn, stopCairn } from '../helpers/cairn-process';
import http from 'node:http';
import Redis from 'ioredis';
import { adminPassword, bearer, startAuthRegistry, token } from '../helpers/auth';
import { pushArtifact, MODEL_CONFIG, modelConfig } from '../helpers/ml-artifacts';

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
/** Recognisable plaintext: found anywhere on disk, it means a byte was stored unsealed. */
const MARKER = Buffer.from('CAIRN-PLAINTEXT-MARKER-7f3a9c');
const marked = (n: number, seed: string) => {
  const b = Buffer.alloc(n);
  const unit = Buffer.concat([MARKER, Buffer.from(seed)]);
  for (let i = 0; i < n; i += unit.length) unit.copy(b, i);
  return b;
};

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await filesUnder(p)));
    else out.push(p);
  }
  return out;
}

/** Every blob and staged file under the store holding the marker: none when everything is sealed. */
async function plaintextFiles(reg: { dataDir: string }): Promise<string[]> {
  const found: string[] = [];
  for (const f of await filesUnder(path.join(reg.dataDir, 'blobs')))
    if ((await readFile(f)).includes(MARKER)) found.push(f);
  return found;
}

const blobFile = (dataDir: string, digest: string) =>
  path.join(dataDir, 'blobs', 'sha256', digest.slice(7, 9), digest.slice(7));

async function pushMonolithic(url: string, repo: string, data: Buffer): Promise<string> {
  const r = await fetch(`${url}/v2/${repo}/blobs/uploads/?digest=${sha256(data)}`, { method: 'POST', body: data });
  expect(r.status).toBe(201);
  return sha256(data);
}

/** A chunked push in pieces that end inside 64 KiB segments, so short segments are re-sealed. */
async function pushChunked(url: string, repo: string, data: Buffer, sizes: number[]): Promise<string> {
  let r = await fetch(`${url}/v2/${repo}/blobs/uploads/`, { method: 'POST' });
  expect(r.status).toBe(202);
  let location = new URL(r.headers.get('location')!, url).href;
  let at = 0;
  for (const size of sizes) {
    const piece = data.subarray(at, at + size);
    r = await fetch(location, {
      method: 'PATCH',
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${at}-${at + piece.length - 1}` },
      body: piece,
    });
    expect(r.status).toBe(202);
    location = new URL(r.headers.get('location')!, url).href;
    at += piece.length;
  }
  const rest = data.subarray(at);
  r = await fetch(`${location}${location.includes('?') ? '&' : '?'}digest=${sha256(data)}`, {
    method: 'PUT',
    body: rest,
  });
  expect(r.status).toBe(201);
  return sha256(data);
}

async function pull(url: string, repo: string, digest: string, range?: string): Promise<Response> {
  return fetch(`${url}/v2/${repo}/blobs/${digest}`, range ? { headers: { Range: range } } : {});
}

describe('encryption at rest (file key, file system)', () => {
  let keys: string;
  let keyA: string;
  let reg: TestRegistry;

  beforeAll(async () => {
    keys = await mkdtemp(path.join(os.tmpdir(), 'cairn-keys-'));
    keyA = pathToFileURL(path.join(keys, 'kek-a')).href;
    writeKeyFile(path.join(keys, 'kek-a'));
    reg = await startTestRegistry(
      { database: 'sqlite', sessions: 'memory' },
      {
        encryption: { key: keyA, rewrapIntervalSeconds: 0, keyCacheSeconds: 1 },
        blobs: { verifyOnRead: true, verifiedTtlSeconds: 0 },
      },
    );
  });
  afterAll(async () => {
    await reg.close();
    await rm(keys, { recursive: true, force: true });
  });

  it('stores nothing readable, and serves the same bytes, digests and ranges as without encryption', async () => {
    const mono = marked(3 * 1024 * 1024 + 17, 'mono');
    const chunked = marked(700_001, 'chunked');
    const d1 = await pushMonolithic(reg.url, 'enc/a', mono);
    const d2 = await pushChunked(reg.url, 'enc/a', chunked, [100_000, 70_001, 65_536, 1]);
    for (const [d, data] of [
      [d1, mono],
      [d2, chunked],
    ] as const) {
      const r = await pull(reg.url, 'enc/a', d);
      expect(r.status).toBe(200);
      expect(r.headers.get('docker-content-digest')).toBe(d);
      expect(Buffer.from(await r.arrayBuffer()).equals(data)).toBe(true);
      // Ranges inside one segment, across segment boundaries, and the very end.
      for (const [start, end] of [
        [10, 20],
        [65_530, 131_080],
        [data.length - 5, data.length - 1],
      ] as const) {
        const part = await pull(reg.url, 'enc/a', d, `bytes=${start}-${end}`);
        expect(part.status).toBe(206);
        expect(Buffer.from(await part.arrayBuffer()).equals(data.subarray(start, end + 1))).toBe(true);
      }
      const head = await fetch(`${reg.url}/v2/enc/a/blobs/${d}`, { method: 'HEAD' });
      expect(head.headers.get('content-length')).toBe(String(data.length));
    }
    // Sealed: bigger than the plaintext by a header and 28 bytes a segment, and no marker anywhere.
    expect((await stat(blobFile(reg.dataDir, d1))).size).toBe(20 + mono.length + Math.ceil(mono.length / 65536) * 28);
    expect(await plaintextFiles(reg)).toEqual([]);
  });

  it('detects an altered segment: the read is cut, the blob quarantined, and scrub names it', async () => {
    const data = marked(400_000, 'tamper');
    const d = await pushMonolithic(reg.url, 'enc/t', data);
    const file = blobFile(reg.dataDir, d);
    const bytes = await readFile(file);
    bytes[20 + 65_564 + 100] ^= 0x01; // inside the second segment
    await writeFile(file, bytes);
    // A range in the first segment still opens; one touching the second does not.
    expect((await pull(reg.url, 'enc/t', d, 'bytes=0-99')).status).toBe(206);
    await expect(pull(reg.url, 'enc/t', d).then((r) => r.arrayBuffer())).rejects.toThrow();
    await new Promise((r) => setTimeout(r, 300));
    const again = await pull(reg.url, 'enc/t', d);
    expect(again.status).toBe(404);
    await reg.registry.audit.flush();
    const events = await reg.registry.audit.search({ digest: d });
    expect(events.map((e) => e.type)).toContain('integrity.failure');
    const scrub = await cairn(['scrub'], {
      CAIRN_DATA_DIR: reg.dataDir,
      CAIRN_ENCRYPTION_KEY: keyA,
      CAIRN_LOG_LEVEL: 'silent',
    });
    expect(scrub.code).toBe(1);
    expect(scrub.stdout + scrub.stderr).toContain(d);
    expect(scrub.stdout + scrub.stderr).toMatch(/does not authenticate/);
  });

  it('detects a segment cut off the end, and segments swapped', async () => {
    const data = marked(200_000, 'cut');
    const d = await pushMonolithic(reg.url, 'enc/c', data);
    const file = blobFile(reg.dataDir, d);
    const sealed = await readFile(file);
    // The last segment gone: stat reports a shorter blob than the catalog's, and the read fails.
    await writeFile(file, sealed.subarray(0, 20 + 3 * 65_564));
    await expect(pull(reg.url, 'enc/c', d).then((r) => r.arrayBuffer())).rejects.toThrow();
    // Two whole segments swapped: each is authentic, but not at the other's place.
    const swapped = Buffer.concat([
      sealed.subarray(0, 20),
      sealed.subarray(20 + 65_564, 20 + 2 * 65_564),
      sealed.subarray(20, 20 + 65_564),
      sealed.subarray(20 + 2 * 65_564),
    ]);
    const data2 = marked(200_000, 'swap');
    const d2 = await pushMonolithic(reg.url, 'enc/c', data2);
    const sealed2 = await readFile(blobFile(reg.dataDir, d2));
    await writeFile(
      blobFile(reg.dataDir, d2),
      Buffer.concat([
        sealed2.subarray(0, 20),
        sealed2.subarray(20 + 65_564, 20 + 2 * 65_564),
        sealed2.subarray(20, 20 + 65_564),
        sealed2.subarray(20 + 2 * 65_564),
      ]),
    );
    expect(swapped.length).toBe(sealed.length);
    const r = await pull(reg.url, 'enc/c', d2, 'bytes=0-10');
    expect(r.status).toBe(404);
  });

  it('refuses to start with another key, or with none, naming the keys', async () => {
    const other = path.join(keys, 'kek-other');
    const otherKey = writeKeyFile(other);
    const cfg = (encryption: Config['encryption']): Config => ({ ...reg.config, encryption });
    await reg.stop();
    await expect(
      startRegistry(
        cfg({ key: pathToFileURL(other).href, previousKeys: [], rewrapIntervalSeconds: 0, keyCacheSeconds: 1 }),
      ),
    ).rejects.toThrow(
      new RegExp(`encryption.key is key ${otherKey.id}, but data keys are wrapped by key [0-9a-f]{16}`),
    );
    await expect(
      startRegistry(cfg({ previousKeys: [], rewrapIntervalSeconds: 0, keyCacheSeconds: 1 })),
    ).rejects.toThrow(/holds encrypted blobs .* encryption.key/);
    reg = await reg.restart();
  });

  it('rotates the key-encryption key: data keys re-wrapped, no blob rewritten, the old key then retired', async () => {
    const data = marked(150_000, 'rotate');
    const d = await pushMonolithic(reg.url, 'enc/r', data);
    const before = await readFile(blobFile(reg.dataDir, d));
    const keyB = pathToFileURL(path.join(keys, 'kek-b')).href;
    const b = writeKeyFile(path.join(keys, 'kek-b'));
    await reg.stop();
    const env = { CAIRN_DATA_DIR: reg.dataDir, CAIRN_LOG_LEVEL: 'silent' };
    const rotated = path.join(keys, 'rotated.yaml');
    await writeFile(rotated, `encryption:\n  key: ${keyB}\n  previousKeys: [${keyA}]\n  rewrapIntervalSeconds: 0\n`);
    // Served meanwhile with both keys: old blobs open with the previous key, new ones get the new key.
    let running: Registry = await startRegistry({
      ...reg.config,
      encryption: { key: keyB, previousKeys: [keyA], rewrapIntervalSeconds: 0, keyCacheSeconds: 1 },
    });
    expect(Buffer.from(await (await pull(running.url, 'enc/r', d)).arrayBuffer()).equals(data)).toBe(true);
    const status = JSON.parse((await cairn(['admin', 'keys', 'kek-status', '-c', rotated], env)).stdout);
    expect(status.current).toBe(b.id);
    expect(status.retirable).toEqual([]);
    const rewrap = await cairn(['admin', 'keys', 'rewrap', '-c', rotated], env);
    expect(rewrap.code).toBe(0);
    expect(JSON.parse(rewrap.stdout).remaining).toEqual({ [b.id]: expect.any(Number) });
    const after = JSON.parse((await cairn(['admin', 'keys', 'kek-status', '-c', rotated], env)).stdout);
    expect(after.retirable).toHaveLength(1);
    await running.close();
    // The old key file can go: the new key alone opens everything, and no blob was rewritten.
    running = await startRegistry({
      ...reg.config,
      encryption: { key: keyB, previousKeys: [], rewrapIntervalSeconds: 0, keyCacheSeconds: 1 },
    });
    expect(Buffer.from(await (await pull(running.url, 'enc/r', d)).arrayBuffer()).equals(data)).toBe(true);
    expect((await readFile(blobFile(reg.dataDir, d))).equals(before)).toBe(true);
    await running.close();
    keyA = keyB;
    reg = await reg.restart({
      ...reg.config,
      encryption: { key: keyB, previousKeys: [], rewrapIntervalSeconds: 0, keyCacheSeconds: 1 },
    });
  });

  it('crypto-shreds a blob on request, refusing while an immutable tag or an approved model needs it; a restored copy stays unreadable', async () => {
    const weights = marked(300_000, 'personal-data');
    const kept = await pushArtifact(reg.url, 'enc/ds', 'v1.0.0', {
      configMediaType: MODEL_CONFIG,
      config: modelConfig('kept'),
      files: { 'weights.bin': weights },
    });
    expect(kept.status).toBe(201);
    const d = sha256(weights);
    const backup = path.join(keys, 'backup-copy');
    await copyFile(blobFile(reg.dataDir, d), backup);
    const env = { CAIRN_DATA_DIR: reg.dataDir, CAIRN_ENCRYPTION_KEY: keyA, CAIRN_LOG_LEVEL: 'silent' };
    await mkdir(reg.config.auth.policyDir, { recursive: true });
    await writeFile(
      path.join(reg.config.auth.policyDir, 'governance.yaml'),
      `immutableTags:\n  - repositories: ["enc/**"]\n    tags: '^v[0-9]+\\.[0-9]+\\.[0-9]+$'\n`,
    );
    const refused = await cairn(['admin', 'erase', d, '--reason', 'GDPR erasure request 42'], env);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/enc\/ds:v1.0.0 is an immutable tag/);
    await writeFile(path.join(reg.config.auth.policyDir, 'governance.yaml'), 'immutableTags: []\n');
    // An approved model needs its files too. (Approval itself is the four-eyes flow, tested elsewhere;
    // here the stage is set where the erase command reads it.)
    const db = new BetterSqlite3(path.join(reg.dataDir, 'cairn.db'));
    const setStage = (stage: string) =>
      db.prepare('update artifacts set stage = ? where digest = ?').run(stage, kept.digest).changes;
    expect(setStage('approved')).toBe(1);
    const approved = await cairn(['admin', 'erase', d, '--reason', 'GDPR erasure request 42'], env);
    expect(approved.code).toBe(2);
    expect(approved.stderr).toMatch(new RegExp(`enc/ds@${kept.digest} is approved`));
    setStage('deprecated');
    db.close();
    const erased = await cairn(['admin', 'erase', d, '--reason', 'GDPR erasure request 42'], env);
    expect(erased.code).toBe(0);
    expect(JSON.parse(erased.stdout)).toMatchObject({ keys: 1, removed: true, unlinkedFrom: ['enc/ds'] });
    expect((await pull(reg.url, 'enc/ds', d)).status).toBe(404);
    // The sealed bytes from a backup, put back: without their key they open for no one.
    await copyFile(backup, blobFile(reg.dataDir, d));
    // Replicas forget an unwrapped key within encryption.keyCacheSeconds (1 s here).
    await new Promise((r) => setTimeout(r, 1100));
    const direct = reg.registry.services.blobs;
    await expect(direct.read(d).then(async (s) => s.toArray())).rejects.toThrow(/data key .* is missing/);
    await reg.registry.audit.flush();
    const audit = await reg.registry.audit.search({ digest: d });
    const event = audit.find((e) => e.type === 'blob.erased');
    expect(event?.detail).toMatchObject({ reason: 'GDPR erasure request 42', dataKeysDestroyed: 1 });
  });

  it('detects a tampered wrapped data key', async () => {
    const data = marked(70_000, 'wrapped');
    const d = await pushMonolithic(reg.url, 'enc/w', data);
    await reg.stop();
    const db = new BetterSqlite3(path.join(reg.dataDir, 'cairn.db'));
    const row = db.prepare('select key_id, wrapped from data_keys where owner = ?').get(`blob:${d}`) as {
      key_id: string;
      wrapped: Buffer;
    };
    row.wrapped[40] ^= 0x01;
    db.prepare('update data_keys set wrapped = ? where key_id = ?').run(row.wrapped, row.key_id);
    db.close();
    reg = await reg.restart();
    const r = await pull(reg.url, 'enc/w', d);
    expect(r.status).toBe(404);
    expect(await r.text()).toMatch(/corrupt and quarantined/);
  });
});

describe('encryption at rest: turning it on over plaintext blobs, and on S3', () => {
  it('serves plaintext blobs from before, and seals them online with `cairn admin encrypt`, resumably', async () => {
    const keys = await mkdtemp(path.join(os.tmpdir(), 'cairn-keys-'));
    const key = pathToFileURL(path.join(keys, 'kek')).href;
    writeKeyFile(path.join(keys, 'kek'));
    const plain = await startTestRegistry({ database: 'sqlite', sessions: 'memory' });
    const blobs = [marked(200_000, 'old-1'), marked(65_536, 'old-2'), marked(100, 'old-3')];
    const digests: string[] = [];
    for (const b of blobs) digests.push(await pushMonolithic(plain.url, 'old/a', b));
    expect((await plaintextFiles(plain)).length).toBe(3);
    await plain.stop();
    const running = await startRegistry({
      ...plain.config,
      encryption: { key, previousKeys: [], rewrapIntervalSeconds: 0, keyCacheSeconds: 1 },
    });
    try {
      const env = { CAIRN_DATA_DIR: plain.dataDir, CAIRN_ENCRYPTION_KEY: key, CAIRN_LOG_LEVEL: 'silent' };
      const first = await cairn(['admin', 'encrypt', '--limit', '1'], env);
      expect(JSON.parse(first.stdout)).toMatchObject({ sealed: 1, alreadySealed: 0 });
      expect((await plaintextFiles(plain)).length).toBe(2);
      // Served all along, whether sealed yet or not.
      for (let i = 0; i < blobs.length; i++) {
        const r = await pull(running.url, 'old/a', digests[i]!);
        expect(Buffer.from(await r.arrayBuffer()).equals(blobs[i]!)).toBe(true);
      }
      const rest = await cairn(['admin', 'encrypt'], env);
      expect(JSON.parse(rest.stdout)).toMatchObject({ sealed: 2, alreadySealed: 1 });
      expect(await plaintextFiles(plain)).toEqual([]);
      for (let i = 0; i < blobs.length; i++) {
        const r = await pull(running.url, 'old/a', digests[i]!, 'bytes=3-8');
        expect(Buffer.from(await r.arrayBuffer()).equals(blobs[i]!.subarray(3, 9))).toBe(true);
      }
    } finally {
      await running.close();
      await plain.close();
      await rm(keys, { recursive: true, force: true });
    }
  });

  (testS3() ? it : it.skip)(
    'keeps nothing readable in the bucket, monolithic and chunked, across two replicas',
    async () => {
      const keys = await mkdtemp(path.join(os.tmpdir(), 'cairn-keys-'));
      const key = pathToFileURL(path.join(keys, 'kek')).href;
      writeKeyFile(path.join(keys, 'kek'));
      const reg = await startTestRegistry(
        { database: 'postgres', sessions: 'redis', storage: 's3', replicas: 2 },
        { encryption: { key }, blobs: { verifiedTtlSeconds: 0 } },
      );
      try {
        const mono = marked(12 * 1024 * 1024 + 5, 's3-mono');
        const chunked = marked(11 * 1024 * 1024 + 3, 's3-chunked');
        const d1 = await pushMonolithic(reg.urls[0]!, 'enc/s3', mono);
        const d2 = await pushChunked(reg.urls[1]!, 'enc/s3', chunked, [5 * 1024 * 1024 + 1, 5 * 1024 * 1024]);
        for (const url of reg.urls) {
          expect(Buffer.from(await (await pull(url, 'enc/s3', d1)).arrayBuffer()).equals(mono)).toBe(true);
          expect(Buffer.from(await (await pull(url, 'enc/s3', d2)).arrayBuffer()).equals(chunked)).toBe(true);
        }
        const { client, bucket } = bucketOf(reg.config.storage);
        let objects = 0;
        for await (const item of client.listObjectsV2(bucket, '', true)) {
          const name = (item as Minio.BucketItem).name;
          if (!name) continue;
          objects++;
          const parts: Buffer[] = [];
          for await (const c of await client.getObject(bucket, name)) parts.push(c as Buffer);
          expect({ name, plaintext: Buffer.concat(parts).includes(MARKER) }).toEqual({ name, plaintext: false });
        }
        expect(objects).toBeGreaterThanOrEqual(2);
      } finally {
        await reg.close();
        await rm(keys, { recursive: true, force: true });
      }
    },
  );
});

describe('encryption at rest with token auth', () => {
  it('seals the token-signing key in the catalog, and tokens it signs work across a restart', async () => {
    const keys = await mkdtemp(path.join(os.tmpdir(), 'cairn-keys-'));
    const key = pathToFileURL(path.join(keys, 'kek')).href;
    writeKeyFile(path.join(keys, 'kek'));
    let reg = await startAuthRegistry(undefined, {}, { encryption: { key } });
    try {
      const db = new BetterSqlite3(path.join(reg.dataDir, 'cairn.db'), { readonly: true });
      const rows = db.prepare('select private_pem from signing_keys').all() as { private_pem: string }[];
      db.close();
      expect(rows.length).toBeGreaterThan(0);
      for (const r of rows) {
        expect(r.private_pem).toMatch(/^sealed:v1:/);
        expect(r.private_pem).not.toContain('PRIVATE KEY');
      }
      const password = await adminPassword(reg);
      const data = marked(1000, 'auth');
      const push = async () => {
        const t = await token(reg.url, 'admin', password, ['repository:auth/x:pull,push']);
        return fetch(`${reg.url}/v2/auth/x/blobs/uploads/?digest=${sha256(data)}`, {
          method: 'POST',
          body: data,
          headers: bearer(t),
        });
      };
      expect((await push()).status).toBe(201);
      reg = await reg.restart();
      expect((await push()).status).toBe(201);
    } finally {
      await reg.close();
      await rm(keys, { recursive: true, force: true });
    }
  });
});

describe('encryption at rest across a kill -9', () => {
  it('resumes an upload killed in the middle of a chunk that began inside a segment, from its last sealed byte', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'cairn-enc-kill-'));
    const key = path.join(dir, 'kek');
    writeKeyFile(key);
    const redis = createRedisPrefix();
    const env = { CAIRN_ENCRYPTION_KEY: pathToFileURL(key).href, CAIRN_SESSIONS: redis.url };
    let server = await serveCairn(path.join(dir, 'data'), env);
    try {
      const data = marked(3 * 1024 * 1024 + 7, 'killed');
      let r = await fetch(`${server.url}/v2/enc/kill/blobs/uploads/`, { method: 'POST' });
      const upload = new URL(r.headers.get('location')!, server.url).pathname;
      // An acknowledged first chunk that ends inside a 64 KiB segment.
      r = await fetch(`${server.url}${upload}`, {
        method: 'PATCH',
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': '0-100000' },
        body: data.subarray(0, 100_001),
      });
      expect(r.status).toBe(202);
      // The second chunk streams slowly; the server is killed after about a megabyte of it.
      const { port } = new URL(server.url);
      const req = http.request({
        host: '127.0.0.1',
        port,
        path: upload,
        method: 'PATCH',
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `100001-${data.length - 1}` },
      });
      req.on('error', () => undefined);
      for (let at = 100_001; at < 100_001 + 1024 * 1024; at += 64 * 1024) {
        req.write(data.subarray(at, Math.min(at + 64 * 1024, data.length)));
        await new Promise((res) => setTimeout(res, 15));
      }
      await new Promise((res) => setTimeout(res, 300));
      const exited = new Promise((res) => server.child.once('exit', res));
      server.child.kill('SIGKILL');
      await exited;
      req.destroy();
      // The killed process still holds the upload's 60 s write lease in Redis; let it lapse now.
      const id = upload.split('/').pop()!;
      const u = new URL(redis.url);
      const lease = new Redis(Number(u.port || 6379), u.hostname);
      await lease.del(`${redis.prefix}upload-lock:${id}`);
      lease.disconnect();
      server = await serveCairn(path.join(dir, 'data'), env);
      const status = await fetch(`${server.url}${upload}`);
      expect(status.status).toBe(204);
      const end = Number(/^0-(\d+)$/.exec(status.headers.get('range') ?? '')?.[1]);
      // Nothing acknowledged is lost, and what is kept is whole sealed segments of what was sent.
      expect(end + 1).toBeGreaterThanOrEqual(100_001);
      expect(end + 1).toBeLessThanOrEqual(100_001 + 1024 * 1024);
      r = await fetch(`${server.url}${upload}?digest=${sha256(data)}`, {
        method: 'PUT',
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Range': `${end + 1}-${data.length - 1}` },
        body: data.subarray(end + 1),
      });
      expect(r.status).toBe(201);
      const back = Buffer.from(await (await pull(server.url, 'enc/kill', sha256(data))).arrayBuffer());
      expect(back.equals(data)).toBe(true);
      expect(await plaintextFiles({ dataDir: path.join(dir, 'data') })).toEqual([]);
    } finally {
      await stopCairn(server);
      await redis.cleanup();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('rotating the key-encryption key across replicas', () => {
  it('re-wraps in the background on one replica while both serve, then the old key can go', async () => {
    const keys = await mkdtemp(path.join(os.tmpdir(), 'cairn-keys-'));
    const keyA = pathToFileURL(path.join(keys, 'a')).href;
    const keyB = pathToFileURL(path.join(keys, 'b')).href;
    writeKeyFile(path.join(keys, 'a'));
    const b = writeKeyFile(path.join(keys, 'b'));
    const reg = await startTestRegistry(
      { database: 'postgres', sessions: 'redis', replicas: 2 },
      { encryption: { key: keyA, rewrapIntervalSeconds: 0 } },
    );
    const blobs = [marked(100_000, 'replica-1'), marked(200_000, 'replica-2')];
    const digests = [
      await pushMonolithic(reg.urls[0]!, 'enc/rep', blobs[0]!),
      await pushMonolithic(reg.urls[1]!, 'enc/rep', blobs[1]!),
    ];
    await reg.stop();
    // The rolling restart: both replicas on the new key, the old one kept as previous.
    const rotated = {
      ...reg.config,
      encryption: { key: keyB, previousKeys: [keyA], rewrapIntervalSeconds: 1, keyCacheSeconds: 60 },
    };
    const replicas = [await startRegistry(rotated), await startRegistry(rotated)];
    try {
      const env = { CAIRN_DATABASE: reg.config.database, CAIRN_DATA_DIR: reg.dataDir, CAIRN_LOG_LEVEL: 'silent' };
      const config = path.join(keys, 'rotated.yaml');
      await writeFile(config, `encryption:\n  key: ${keyB}\n  previousKeys: [${keyA}]\n`);
      const deadline = Date.now() + 30_000;
      let status = JSON.parse((await cairn(['admin', 'keys', 'kek-status', '-c', config], env)).stdout);
      while (status.retirable.length === 0) {
        if (Date.now() > deadline) throw new Error(`not re-wrapped within 30 s: ${JSON.stringify(status)}`);
        await new Promise((r) => setTimeout(r, 500));
        status = JSON.parse((await cairn(['admin', 'keys', 'kek-status', '-c', config], env)).stdout);
      }
      expect(Object.keys(status.dataKeys)).toEqual([b.id]);
      for (const replica of replicas)
        for (let i = 0; i < blobs.length; i++) {
          const r = await pull(replica.url, 'enc/rep', digests[i]!);
          expect(Buffer.from(await r.arrayBuffer()).equals(blobs[i]!)).toBe(true);
        }
    } finally {
      for (const replica of replicas) await replica.close();
    }
    // The old key gone from the configuration: everything still opens.
    const alone = await startRegistry({
      ...reg.config,
      encryption: { key: keyB, previousKeys: [], rewrapIntervalSeconds: 0, keyCacheSeconds: 60 },
    });
    try {
      for (let i = 0; i < blobs.length; i++) {
        const r = await pull(alone.url, 'enc/rep', digests[i]!);
        expect(Buffer.from(await r.arrayBuffer()).equals(blobs[i]!)).toBe(true);
      }
    } finally {
      await alone.close();
      await reg.close();
      await rm(keys, { recursive: true, force: true });
    }
  });
});
