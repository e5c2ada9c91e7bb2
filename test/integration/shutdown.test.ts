import http from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { startRegistry } from '../../src/app';
import { validateConfig } from '../../src/config/config';
import { createTestDatabase, POSTGRES_ADMIN_URL } from '../helpers/services';
import { startTestRegistry, type TestRegistry } from '../helpers/server';
import { random, sha256 } from '../conformance/client';

/** A PATCH whose body is sent in two halves, so a shutdown can begin while it is in flight. */
function slowPatch(url: string, data: Buffer): { sent: () => void; done: Promise<number> } {
  const u = new URL(url);
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const done = new Promise<number>((resolve, reject) => {
    const req = http.request(
      {
        host: u.hostname,
        port: u.port,
        path: u.pathname + u.search,
        method: 'PATCH',
        headers: { 'Content-Length': data.length, 'Content-Type': 'application/octet-stream' },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.write(data.subarray(0, data.length / 2));
    void gate.then(() => req.end(data.subarray(data.length / 2)));
  });
  return { sent: release, done };
}

describe('graceful shutdown (rolling upgrades)', () => {
  let reg: TestRegistry;
  afterEach(async () => reg.close());

  it('lets a request in flight finish, refuses new connections, then stops', async () => {
    // Sessions in Redis so the upload outlives the process.
    reg = await startTestRegistry({ database: 'sqlite', sessions: 'redis' }, { shutdownGraceSeconds: 30 });
    const open = await fetch(`${reg.url}/v2/drain/a/blobs/uploads/`, { method: 'POST' });
    const location = new URL(open.headers.get('location')!, reg.url).toString();
    const data = random(1 << 20);
    const patch = slowPatch(location, data);
    await new Promise((r) => setTimeout(r, 200));
    let stopped = false;
    const stopping = reg.stop().then(() => (stopped = true));
    await new Promise((r) => setTimeout(r, 300));
    expect(stopped).toBe(false);
    await expect(fetch(`${reg.url}/v2/`)).rejects.toThrow();
    patch.sent();
    expect(await patch.done).toBe(202);
    await stopping;
    // What was acknowledged is there after the restart.
    reg = await reg.restart();
    const status = await fetch(location.replace(/^http:\/\/[^/]+/, reg.url));
    expect(status.status).toBe(204);
    expect(status.headers.get('range')).toBe(`0-${data.length - 1}`);
    const next = new URL(status.headers.get('location')!, reg.url);
    next.searchParams.set('digest', sha256(data));
    const put = await fetch(next, { method: 'PUT' });
    expect(put.status).toBe(201);
  });

  it('cuts what is still running when the grace period ends', async () => {
    reg = await startTestRegistry({ database: 'sqlite', sessions: 'memory' }, { shutdownGraceSeconds: 1 });
    const open = await fetch(`${reg.url}/v2/drain/b/blobs/uploads/`, { method: 'POST' });
    const patch = slowPatch(new URL(open.headers.get('location')!, reg.url).toString(), random(1 << 20));
    await new Promise((r) => setTimeout(r, 200));
    const t = Date.now();
    await reg.stop();
    expect(Date.now() - t).toBeGreaterThanOrEqual(900);
    expect(Date.now() - t).toBeLessThan(10_000);
    await expect(patch.done).rejects.toThrow();
  });
});

describe('a start that fails halfway', () => {
  it('closes everything it had opened when it cannot listen: no database connection, no job left running', async () => {
    const db = await createTestDatabase();
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'cairn-failstart-'));
    // The port is taken.
    const blocker = http.createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
    const port = (blocker.address() as { port: number }).port;
    const admin = new Client({ connectionString: POSTGRES_ADMIN_URL });
    await admin.connect();
    const dbName = new URL(db.url).pathname.slice(1);
    const connections = async () =>
      Number((await admin.query('select count(*) as n from pg_stat_activity where datname = $1', [dbName])).rows[0].n);
    try {
      const config = validateConfig({
        listen: `127.0.0.1:${port}`,
        dataDir,
        log: { level: 'silent' },
        auth: { mode: 'none' },
        database: db.url,
        integrity: { scrubIntervalSeconds: 1 },
      });
      await expect(startRegistry(config)).rejects.toThrow(/EADDRINUSE/);
      // The catalog's pool was closed by the rollback, not left for the process to hold.
      const until = Date.now() + 5000;
      while ((await connections()) > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
      expect(await connections()).toBe(0);
    } finally {
      await admin.end();
      blocker.close();
      await db.drop();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
