import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { Kysely, PostgresDialect, sql } from 'kysely';
import { Client, Pool } from 'pg';
import pino from 'pino';
import os from 'node:os';
import path from 'node:path';
import { startTestRegistry, type TestRegistry } from '../helpers/server';
import { testS3, uniqueBucket } from '../helpers/s3';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy';
import { send } from '../helpers/big-blobs';
import { freePort } from '../helpers/ports';
import { POSTGRES_ADMIN_URL, serviceAvailable } from '../helpers/services';
import { isBackendUnavailable } from '../../src/http/backend-errors';

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const codeOf = (body: string) => (JSON.parse(body) as { errors: { code: string }[] }).errors[0]!.code;

/**
 * A backend that goes away answers 503 UNAVAILABLE (retryable), never a 500 or a hang; /readyz says so;
 * nothing acknowledged is lost; service resumes by itself when the backend returns. The tests use their
 * own backends (a redis-server on another port, the test RGW behind a cutting proxy) so that the shared
 * ones are never disturbed.
 */
describe('backend faults answer 503 and heal', () => {
  jest.setTimeout(120_000);

  describe('Redis (upload sessions) stopped mid-upload and started again', () => {
    let redis: ChildProcess | undefined;
    let dir: string;
    let port: number;
    let reg: TestRegistry;
    const startRedis = async () => {
      // Append-only file: acknowledged upload offsets survive the restart, as in production with AOF.
      redis = spawn(
        'redis-server',
        ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--dir', dir],
        { stdio: 'ignore' },
      );
      const until = Date.now() + 10_000;
      while (Date.now() < until) {
        const up = await new Promise<boolean>((r) =>
          net
            .connect(port, '127.0.0.1')
            .on('connect', function (this: net.Socket) {
              this.destroy();
              r(true);
            })
            .on('error', () => r(false)),
        );
        if (up) return;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error('redis-server did not start');
    };
    beforeAll(async () => {
      dir = await mkdtemp(path.join(os.tmpdir(), 'cairn-redis-fault-'));
      port = await freePort();
      await startRedis();
      reg = await startTestRegistry(
        { database: 'sqlite', sessions: 'memory' },
        { sessions: `redis://127.0.0.1:${port}/0` },
      );
    });
    afterAll(async () => {
      await reg?.close();
      redis?.kill('SIGKILL');
      await rm(dir, { recursive: true, force: true });
    });

    it('answers 503 while Redis is down, reports not ready, and resumes the upload when it is back', async () => {
      const data = randomBytes(3 * 1024 * 1024);
      const open = await send(`${reg.url}/v2/faults/redis/blobs/uploads/`, 'POST');
      expect(open.status).toBe(202);
      let location = open.headers.location!;
      const first = await send(`${reg.url}${location}`, 'PATCH', data.subarray(0, 1024 * 1024), {
        headers: { 'Content-Range': `0-${1024 * 1024 - 1}` },
      });
      expect(first.status).toBe(202);
      location = first.headers.location!;

      redis!.kill('SIGKILL');
      await new Promise((r) => redis!.once('exit', r));
      const started = Date.now();
      const during = await send(`${reg.url}${location}`, 'PATCH', data.subarray(1024 * 1024, 2 * 1024 * 1024), {
        headers: { 'Content-Range': `${1024 * 1024}-${2 * 1024 * 1024 - 1}` },
        timeoutMs: 30_000,
      });
      expect((Date.now() - started) / 1000).toBeLessThan(30);
      expect([during.status, codeOf(during.body)]).toEqual([503, 'UNAVAILABLE']);
      const ready = await send(`${reg.url}/readyz`, 'GET', undefined, { timeoutMs: 30_000 });
      expect(ready.status).toBe(503);
      expect(JSON.parse(ready.body).checks.sessions).not.toBe('ok');

      await startRedis();
      // Healed by itself: the client asks where the upload stands and resumes from what was acknowledged.
      const until = Date.now() + 20_000;
      let status = await send(`${reg.url}${location}`, 'GET');
      while (status.status !== 204 && Date.now() < until) {
        await new Promise((r) => setTimeout(r, 250));
        status = await send(`${reg.url}${location}`, 'GET');
      }
      expect(status.status).toBe(204);
      const offset = Number(status.headers.range!.split('-')[1]) + 1;
      expect(offset).toBeGreaterThanOrEqual(1024 * 1024);
      const done = await send(
        `${reg.url}${status.headers.location}?digest=${sha256(data)}`,
        'PUT',
        data.subarray(offset),
        { headers: { 'Content-Range': `${offset}-${data.length - 1}` } },
      );
      expect(done.status).toBe(201);
      const back = Buffer.from(await (await fetch(`${reg.url}/v2/faults/redis/blobs/${sha256(data)}`)).arrayBuffer());
      expect(back.equals(data)).toBe(true);
      expect((await send(`${reg.url}/readyz`, 'GET')).status).toBe(200);
    });
  });

  const s3 = testS3();
  (s3 ? describe : describe.skip)('the S3 endpoint stopped and started again', () => {
    let proxy: TcpProxy;
    let reg: TestRegistry;
    beforeAll(async () => {
      proxy = await startTcpProxy(s3!.endpoint);
      reg = await startTestRegistry(
        { database: 'sqlite', sessions: 'memory', storage: 's3' },
        { storage: `s3://${uniqueBucket()}?endpoint=${encodeURIComponent(proxy.url)}` },
      );
    });
    afterAll(async () => {
      await reg?.close();
      await proxy?.close();
    });

    it('answers 503 to pulls and pushes while S3 is down, reports not ready, and serves again when it is back', async () => {
      const data = randomBytes(200_000);
      const digest = sha256(data);
      const put = await send(`${reg.url}/v2/faults/s3/blobs/uploads/?digest=${digest}`, 'POST', data);
      expect(put.status).toBe(201);

      proxy.cut();
      const pull = await send(`${reg.url}/v2/faults/s3/blobs/${digest}`, 'GET', undefined, { timeoutMs: 30_000 });
      expect([pull.status, codeOf(pull.body)]).toEqual([503, 'UNAVAILABLE']);
      const other = randomBytes(1000);
      const push = await send(`${reg.url}/v2/faults/s3/blobs/uploads/?digest=${sha256(other)}`, 'POST', other, {
        timeoutMs: 30_000,
      });
      expect([push.status, codeOf(push.body)]).toEqual([503, 'UNAVAILABLE']);
      expect((await send(`${reg.url}/v2/faults/s3/blobs/${sha256(other)}`, 'HEAD')).status).toBe(404);
      const ready = await send(`${reg.url}/readyz`, 'GET', undefined, { timeoutMs: 30_000 });
      expect(ready.status).toBe(503);
      expect(JSON.parse(ready.body).checks.storage).not.toBe('ok');

      proxy.restore();
      const back = Buffer.from(await (await fetch(`${reg.url}/v2/faults/s3/blobs/${digest}`)).arrayBuffer());
      expect(back.equals(data)).toBe(true);
      expect((await send(`${reg.url}/v2/faults/s3/blobs/uploads/?digest=${sha256(other)}`, 'POST', other)).status).toBe(
        201,
      );
      expect((await send(`${reg.url}/readyz`, 'GET')).status).toBe(200);
    });
  });
});

describe('the disk filling during a push (file-system storage on a small tmpfs)', () => {
  let dir: string;
  let reg: TestRegistry | undefined;
  let mounted = false;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'cairn-full-disk-'));
    mounted = await new Promise<boolean>((resolve) =>
      execFile('mount', ['-t', 'tmpfs', '-o', 'size=24m', 'tmpfs', dir], (err) => resolve(!err)),
    );
    if (!mounted && process.env.CI === 'true') throw new Error('mounting a tmpfs needs root (CI runs as root)');
    if (mounted)
      reg = await startTestRegistry({ database: 'sqlite', sessions: 'memory' }, { storage: `file://${dir}` });
  });
  afterAll(async () => {
    await reg?.close();
    if (mounted) {
      await new Promise((r) => execFile('umount', [dir], r));
    }
    await rm(dir, { recursive: true, force: true });
  });

  it('answers 503 when the disk is full, keeps nothing half-written, and takes pushes again once there is room', async () => {
    if (!mounted) return;
    const small = randomBytes(4 * 1024 * 1024);
    expect(
      (await send(`${reg!.url}/v2/faults/disk/blobs/uploads/?digest=${sha256(small)}`, 'POST', small)).status,
    ).toBe(201);
    const big = randomBytes(40 * 1024 * 1024);
    const open = await send(`${reg!.url}/v2/faults/disk/blobs/uploads/`, 'POST');
    const full = await send(`${reg!.url}${open.headers.location}?digest=${sha256(big)}`, 'PUT', big, {
      timeoutMs: 30_000,
    });
    expect([full.status, codeOf(full.body)]).toEqual([503, 'UNAVAILABLE']);
    expect((await send(`${reg!.url}/v2/faults/disk/blobs/${sha256(big)}`, 'HEAD')).status).toBe(404);
    // What was acknowledged is intact.
    const back = Buffer.from(await (await fetch(`${reg!.url}/v2/faults/disk/blobs/${sha256(small)}`)).arrayBuffer());
    expect(back.equals(small)).toBe(true);
    // The failed upload's staged bytes are given back (cancelled), so a push that fits goes through.
    await send(`${reg!.url}${open.headers.location}`, 'DELETE');
    const fits = randomBytes(8 * 1024 * 1024);
    expect((await send(`${reg!.url}/v2/faults/disk/blobs/uploads/?digest=${sha256(fits)}`, 'POST', fits)).status).toBe(
      201,
    );
  });
});

describe('PostgreSQL restarted under a stream of pushes (a cluster of the test own)', () => {
  const bin = '/usr/lib/postgresql/15/bin';
  let dir: string;
  let port: number;
  let reg: TestRegistry | undefined;
  // What the server logged as its own fault, shown when a 500 slips through (CI cannot be replayed).
  const serverErrors: string[] = [];
  const pg = (args: string) =>
    new Promise<void>((resolve, reject) =>
      execFile('su', ['postgres', '-s', '/bin/sh', '-c', `${bin}/pg_ctl -D ${dir}/data ${args}`], (err) =>
        err ? reject(err) : resolve(),
      ),
    );
  const startPg = () => pg(`-o '-p ${port} -k ${dir} -c listen_addresses=127.0.0.1' -l ${dir}/log -w start`);
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'cairn-pg-fault-'));
    port = await freePort();
    await new Promise<void>((resolve, reject) =>
      execFile('chown', ['postgres', dir], (err) => (err ? reject(err) : resolve())),
    );
    await new Promise<void>((resolve, reject) =>
      execFile('su', ['postgres', '-s', '/bin/sh', '-c', `${bin}/initdb -D ${dir}/data -A trust -U postgres`], (err) =>
        err ? reject(err) : resolve(),
      ),
    );
    await startPg();
    reg = await startTestRegistry(
      { database: 'sqlite', sessions: 'memory' },
      { database: `postgres://postgres@127.0.0.1:${port}/postgres` },
      { logger: pino({ level: 'error' }, { write: (line: string) => void serverErrors.push(line) }) },
    );
  });
  afterAll(async () => {
    await reg?.close();
    await pg('-m immediate stop').catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  it('answers 503 while it is down (never 500, never a hang), loses no acknowledged push, and resumes by itself', async () => {
    const acknowledged: { repo: string; digest: string }[] = [];
    const statuses = new Set<number>();
    let stop = false;
    const pushOne = async (i: number) => {
      const layer = randomBytes(2000);
      const repo = `faults/pg${i % 4}`;
      const b = await send(`${reg!.url}/v2/${repo}/blobs/uploads/?digest=${sha256(layer)}`, 'POST', layer, {
        timeoutMs: 30_000,
      });
      statuses.add(b.status);
      if (b.status !== 201) return;
      const manifest = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          artifactType: 'application/vnd.example.fault',
          config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: sha256(layer), size: layer.length },
          layers: [],
        }),
      );
      const m = await send(`${reg!.url}/v2/${repo}/manifests/${sha256(manifest)}`, 'PUT', manifest, {
        headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
        timeoutMs: 30_000,
      });
      statuses.add(m.status);
      if (m.status === 201) acknowledged.push({ repo, digest: sha256(manifest) });
    };
    const stream = (async () => {
      for (let i = 0; !stop; i++) await pushOne(i);
    })();
    await new Promise((r) => setTimeout(r, 1500));
    const before = acknowledged.length;
    await pg('-m fast -w stop');
    await new Promise((r) => setTimeout(r, 2500));
    const ready = await send(`${reg!.url}/readyz`, 'GET', undefined, { timeoutMs: 30_000 });
    expect(ready.status).toBe(503);
    await startPg();
    await new Promise((r) => setTimeout(r, 2500));
    stop = true;
    await stream;
    // Only successes and retryable refusals, never a 500 or a hang.
    expect({
      unexpected: [...statuses].filter((s) => s !== 201 && s !== 503),
      logged: serverErrors.filter((l) => l.includes('unhandled error')),
    }).toEqual({ unexpected: [], logged: [] });
    expect(statuses.has(503)).toBe(true);
    // It went on by itself after the restart, and every acknowledged push is there.
    expect(acknowledged.length).toBeGreaterThan(before);
    for (const a of acknowledged) {
      expect((await send(`${reg!.url}/v2/${a.repo}/manifests/${a.digest}`, 'HEAD')).status).toBe(200);
    }
    expect((await send(`${reg!.url}/readyz`, 'GET')).status).toBe(200);
  });
});

describe('a PostgreSQL connection cut inside a transaction (what a fast shutdown does to a busy registry)', () => {
  it('is reported as an unavailable backend even where the failed ROLLBACK replaces the first error', async () => {
    if (!(await serviceAvailable('postgres'))) return;
    const pool = new Pool({ connectionString: POSTGRES_ADMIN_URL, max: 1 });
    pool.on('error', () => undefined);
    pool.on('connect', (client) => client.on('error', () => undefined));
    const db = new Kysely<Record<string, never>>({ dialect: new PostgresDialect({ pool }) });
    const killer = new Client({ connectionString: POSTGRES_ADMIN_URL });
    await killer.connect();
    try {
      const err = await db
        .transaction()
        .execute(async (trx) => {
          const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(trx);
          await killer.query('select pg_terminate_backend($1)', [rows[0]!.pid]);
          // The server's goodbye reaches the idle client between statements: the next one is refused
          // without a code, and so is kysely's ROLLBACK, whose error is the one thrown.
          await new Promise((r) => setTimeout(r, 200));
          await sql`select 1`.execute(trx);
        })
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(err).toBeInstanceOf(Error);
      expect([(err as Error).message, isBackendUnavailable(err)]).toEqual([(err as Error).message, true]);
    } finally {
      await killer.end();
      await db.destroy();
    }
  });
});
