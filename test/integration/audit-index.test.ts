import BetterSqlite3 from 'better-sqlite3';
import path from 'node:path';
import { startTestRegistry, type TestRegistry } from '../helpers/server';
import { pushModel } from '../helpers/ml-artifacts';

describe('the audit index (events by digest, repository, identity)', () => {
  let reg: TestRegistry;
  afterAll(async () => reg.close());

  it('covers events appended before it existed, after a restart fills it in', async () => {
    reg = await startTestRegistry({ database: 'sqlite', sessions: 'memory' });
    const m = await pushModel(reg.url, 'idx/m', 'v1');
    const sig = await pushModel(reg.url, 'idx/m', 'sig', { n: '1' });
    expect([m.status, sig.status]).toEqual([201, 201]);
    await reg.registry.services.receipts!.settled();
    const before = await reg.registry.audit.search({ digest: m.digest });
    expect(before.map((e) => e.type)).toContain('manifest.push');
    await reg.stop();

    // As a catalog from before the index: nothing indexed.
    const db = new BetterSqlite3(path.join(reg.dataDir, 'cairn.db'));
    db.prepare('delete from audit_index').run();
    db.prepare('update audit_index_head set indexed = 0').run();
    db.close();

    reg = await reg.restart();
    const after = await reg.registry.audit.search({ digest: m.digest });
    expect(after).toEqual(before);
    expect((await reg.registry.audit.search({ repository: 'idx/m' })).length).toBeGreaterThanOrEqual(4);
    const both = await reg.registry.audit.search({ repository: 'idx/m', digest: sig.digest });
    expect(both.length).toBeGreaterThanOrEqual(1);
    // About it: its own events, and those of what names it as subject (the registry's receipt of its push).
    expect(
      both.every((e) => e.repository === 'idx/m' && (e.digest === sig.digest || e.detail?.subject === sig.digest)),
    ).toBe(true);
    expect(both.some((e) => e.detail?.kind === 'receipt')).toBe(true);
    expect(await reg.registry.audit.search({ digest: `sha256:${'0'.repeat(64)}` })).toEqual([]);
  });
});
