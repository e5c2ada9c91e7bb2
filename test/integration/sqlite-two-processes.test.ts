import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { createCatalog } from '../../src/catalog';
import { AuditLog } from '../../src/audit/audit-log';
import type { KyselyCatalog } from '../../src/catalog/kysely-catalog';

const run = promisify(execFile);
const dist = path.join(__dirname, '..', '..', 'dist');

// Each child appends events one transaction at a time, as `cairn retention` does beside `cairn serve`.
const child = `
const { createCatalog } = require(${JSON.stringify(path.join(dist, 'catalog'))});
const { AuditLog } = require(${JSON.stringify(path.join(dist, 'audit', 'audit-log'))});
(async () => {
  const catalog = createCatalog(process.argv[1]);
  await catalog.init();
  const log = new AuditLog(catalog.db, 'sqlite', { origin: 'test', checkpointMs: 0 });
  for (let i = 0; i < 200; i++)
    await log.append({ type: 'test.event', identity: process.argv[2], action: 'write', detail: { i } });
  await log.close();
  await catalog.close();
})().catch((e) => { console.error(e.code, e.message); process.exit(1); });
`;

describe('the embedded SQLite catalog written by two processes at once', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'cairn-sqlite-2p-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('makes the second writer wait instead of failing (serve and a CLI command side by side)', async () => {
    const url = `sqlite://${path.join(dir, 'cairn.db')}`;
    const first = createCatalog(url);
    await first.init();
    await first.close();

    const results = await Promise.allSettled(
      ['a', 'b'].map((who) => run(process.execPath, ['-e', child, url, who], { timeout: 60_000 })),
    );
    expect(results.map((r) => (r.status === 'rejected' ? String((r.reason as Error).message) : 'ok'))).toEqual([
      'ok',
      'ok',
    ]);

    const catalog = createCatalog(url) as KyselyCatalog;
    await catalog.init();
    const log = new AuditLog(catalog.db, 'sqlite', { origin: 'test', checkpointMs: 0 });
    await log.init();
    const events = await log.search({});
    expect(events).toHaveLength(400);
    expect(events.map((e) => e.seq).sort((x, y) => x - y)).toEqual([...Array(400).keys()]);
    await log.close();
    await catalog.close();
  });
});
