import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startTestRegistry, type TestRegistry } from '../helpers/server';
import { pushDataset, pushModel } from '../helpers/ml-artifacts';

describe('retention inside serve', () => {
  let reg: TestRegistry;
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'cairn-retention-'));
    await writeFile(
      path.join(dir, 'governance.yaml'),
      `retention:\n  - repositories: ["scratch/**"]\n    draftsOlderThanDays: 0.00002\nimmutableTags:\n  - repositories: ["**"]\n    tags: '^v[0-9]+\\.[0-9]+\\.[0-9]+$'\n`,
    );
    reg = await startTestRegistry(
      { database: 'postgres', sessions: 'memory' },
      { gc: { retentionIntervalSeconds: 1 }, auth: { mode: 'none', policyDir: dir } },
    );
  });
  afterAll(async () => {
    await reg?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('prunes old drafts on its own, keeping what is pinned, named by another artifact, or outside the rules', async () => {
    const old = await pushModel(reg.url, 'scratch/a', 'latest');
    const pinned = await pushModel(reg.url, 'scratch/a', 'v1.0.0', { x: 'pinned' });
    const used = await pushDataset(reg.url, 'scratch/b', 'v1', { name: 'used' });
    await pushModel(reg.url, 'scratch/c', 'user', { 'org.cairn.datasets': used.digest, y: '1' });
    const elsewhere = await pushModel(reg.url, 'ml/a', 'latest');
    const deadline = Date.now() + 30_000;
    while ((await fetch(`${reg.url}/v2/scratch/a/manifests/${old.digest}`)).status !== 404) {
      if (Date.now() > deadline) throw new Error('the old draft was not pruned within 30 s');
      await new Promise((r) => setTimeout(r, 250));
    }
    expect((await fetch(`${reg.url}/v2/scratch/a/manifests/${pinned.digest}`)).status).toBe(200);
    expect((await fetch(`${reg.url}/v2/scratch/b/manifests/${used.digest}`)).status).toBe(200);
    expect((await fetch(`${reg.url}/v2/ml/a/manifests/${elsewhere.digest}`)).status).toBe(200);
    await reg.registry.audit.flush();
    const events = (await reg.registry.audit.search({ repository: 'scratch/a' })).filter(
      (e) => e.type === 'retention.delete',
    );
    expect(events).toEqual([
      expect.objectContaining({
        identity: 'system',
        digest: old.digest,
        detail: expect.objectContaining({ stage: 'draft' }),
      }),
    ]);
  });
});
