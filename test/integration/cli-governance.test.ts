import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import type { TestRegistry } from '../helpers/server';
import { cairn } from '../helpers/cli';
import { addUser, startAuthRegistry } from '../helpers/auth';
import { pushDataset, pushModel, sha256, MODEL_CONFIG } from '../helpers/ml-artifacts';
import { bearer, token } from '../helpers/auth';

describe('cairn policy check, promote, lineage, impact, search and retention', () => {
  let reg: TestRegistry;
  let dir: string;
  let host: string;
  const pw = 'a-long-password-1234';
  const as = (user: string) => ({
    CAIRN_USERNAME: user,
    CAIRN_PASSWORD: pw,
    CAIRN_CONFIG_DIR: path.join(dir, `cfg-${user}`),
  });
  const rules = `
lifecycle:
  - repositories: ["**"]
    requiredFields: [licenses]
    metrics: { accuracy: { min: 0.9 } }
retention:
  - repositories: ["scratch/**"]
    draftsOlderThanDays: 0.00001
immutableTags:
  - repositories: ["**"]
    tags: '^v[0-9]+\\.[0-9]+\\.[0-9]+$'
`;

  beforeAll(async () => {
    reg = await startAuthRegistry();
    host = reg.url.replace('http://', '');
    dir = await mkdtemp(path.join(os.tmpdir(), 'cairn-cli-gov-'));
    await writeFile(path.join(reg.config.auth.policyDir, 'governance.yaml'), rules);
    await new Promise((r) => setTimeout(r, 1300));
    await addUser(
      reg,
      'alice',
      pw,
      [],
      [
        ['maintainer', 'ml/'],
        ['maintainer', 'data/'],
        ['maintainer', 'scratch/'],
      ],
    );
    await addUser(
      reg,
      'bob',
      pw,
      [],
      [
        ['approver', 'ml/'],
        ['approver', 'data/'],
      ],
    );
  });
  afterAll(async () => {
    await reg.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('policy check reports locally what the registry would refuse, with the same messages', async () => {
    // A directory to push, without the accuracy metric the rules need for approval.
    const model = path.join(dir, 'model');
    await mkdir(model);
    await writeFile(path.join(model, 'weights.safetensors'), 'weights');
    await writeFile(path.join(model, 'cairn.yaml'), YAML.stringify({ name: 'bert', licenses: ['Apache-2.0'] }));
    await writeFile(path.join(dir, 'gov.yaml'), rules);
    const policyDir = path.join(dir, 'policies');
    await mkdir(policyDir);
    await writeFile(path.join(policyDir, 'governance.yaml'), rules);
    const missing = await cairn(['policy', 'check', model, '--policy-dir', policyDir]);
    expect(missing.code).toBe(1);
    expect(missing.stdout).toContain(
      'not approvable: evaluation metric "accuracy" is required before approval (org.cairn.metrics)',
    );
    // The same artifact is pushable (no refusal on push), and ready for candidate.
    expect(missing.stdout).not.toContain('refused on push');
    expect((await cairn(['policy', 'check', model, '--policy-dir', policyDir, '--stage', 'candidate'])).code).toBe(0);
    await writeFile(
      path.join(model, 'cairn.yaml'),
      YAML.stringify({ name: 'bert', licenses: ['Apache-2.0'], metrics: { accuracy: 0.95 } }),
    );
    const good = await cairn(['policy', 'check', model, '--policy-dir', policyDir]);
    expect([good.code, good.stdout]).toEqual([0, expect.stringMatching(/^ok /)]);

    // A manifest with an invalid config: the registry's refusal message, word for word.
    const config = Buffer.from(
      JSON.stringify({
        descriptor: { name: 'x', licenses: 'MIT' },
        config: {},
        modelfs: { type: 'layers', diff_ids: [] },
      }),
    );
    const manifest = {
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      artifactType: 'application/vnd.cncf.model.manifest.v1+json',
      config: { mediaType: MODEL_CONFIG, digest: sha256(config), size: config.length },
      layers: [],
    };
    await writeFile(path.join(dir, 'manifest.json'), JSON.stringify(manifest));
    await writeFile(path.join(dir, 'config.json'), config);
    const bad = await cairn([
      'policy',
      'check',
      path.join(dir, 'manifest.json'),
      '--config-blob',
      path.join(dir, 'config.json'),
      '--policy-dir',
      policyDir,
    ]);
    expect(bad.code).toBe(1);
    const pushed = await pushModel(
      reg.url,
      'ml/check',
      'v1',
      {},
      bearer(await token(reg.url, 'alice', pw, ['repository:ml/check:pull,push'])),
      JSON.parse(config.toString()),
    );
    const serverMessage = JSON.parse(pushed.body).errors[0].message as string;
    expect(bad.stdout).toContain(`refused on push: ${serverMessage}`);
    expect((await cairn(['policy', 'check', path.join(dir, 'nope')])).code).toBe(2);
  });

  it('promote, lineage, impact, compromised and search from the command line, with the stored credentials', async () => {
    const alice = bearer(
      await token(reg.url, 'alice', pw, ['repository:data/set:pull,push', 'repository:ml/cls:pull,push']),
    );
    const ds = await pushDataset(reg.url, 'data/set', 'v1', { name: 'set', licenses: ['MIT'] }, alice);
    const m = await pushModel(
      reg.url,
      'ml/cls',
      'v1.0.0',
      { 'org.cairn.datasets': `data/set@${ds.digest}`, 'org.cairn.metrics': '{"accuracy":0.97}' },
      alice,
    );
    expect([ds.status, m.status]).toEqual([201, 201]);

    expect((await cairn(['promote', `${host}/ml/cls:v1.0.0`, 'candidate'], as('alice'))).stdout).toBe(
      `ml/cls@${m.digest}: draft -> candidate\n`,
    );
    const self = await cairn(['promote', `${host}/ml/cls:v1.0.0`, 'approved'], as('alice'));
    expect(self.code).toBe(3);
    expect(self.stderr).toMatch(/DENIED.*user:alice pushed this artifact and may not approve it/);
    const ok = await cairn(['promote', `${host}/ml/cls@${m.digest}`, 'approved', '--reason', 'eval ok'], as('bob'));
    expect([ok.code, ok.stdout]).toEqual([0, `ml/cls@${m.digest}: candidate -> approved\n`]);

    const up = await cairn(['lineage', `${host}/ml/cls:v1.0.0`, '--direction', 'upstream'], as('bob'));
    expect(up.stdout).toContain(`data/set@${ds.digest}\tdataset\tdraft\tset\tdepth 1`);
    expect(up.stdout).toContain(`ml/cls@${m.digest} --trained-on--> data/set@${ds.digest}`);

    expect((await cairn(['compromised', `${host}/data/set:v1`, '--reason', 'leaked PII'], as('bob'))).code).toBe(0);
    const impact = await cairn(['impact', `${host}/data/set:v1`], as('bob'));
    expect(impact.stdout).toContain('COMPROMISED');
    expect(impact.stdout).toContain('1 model(s) affected:');
    expect(impact.stdout).toMatch(new RegExp(`ml/cls@${m.digest}\\tmodel\\tapproved.*audit event`));
    const json = JSON.parse((await cairn(['impact', `${host}/data/set:v1`, '--json'], as('bob'))).stdout);
    expect(json.affected[0].events.map((e: { type: string }) => e.type)).toEqual(
      expect.arrayContaining(['manifest.push', 'lifecycle.stage']),
    );

    const found = await cairn(['search', host, '--stage', 'approved', '--metric', 'accuracy>=0.9'], as('bob'));
    expect(found.stdout.trim().split('\n')).toEqual([`ml/cls@${m.digest}\tmodel\tapproved\tml/cls`]);
    const bad = await cairn(['search', host, '--metric', 'accuracy~1'], as('bob'));
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/metric filters look like/);
  });

  it('retention deletes old drafts, keeps what is immutable or used, and records each deletion', async () => {
    const alice = bearer(
      await token(reg.url, 'alice', pw, ['repository:scratch/a:pull,push', 'repository:scratch/b:pull,push']),
    );
    const old = await pushModel(reg.url, 'scratch/a', 'latest', {}, alice);
    const pinned = await pushModel(reg.url, 'scratch/a', 'v1.0.0', { x: 'pinned' }, alice);
    const used = await pushDataset(reg.url, 'scratch/b', 'v1', { name: 'used' }, alice);
    await pushModel(reg.url, 'scratch/a', 'user', { 'org.cairn.datasets': used.digest, y: '1' }, alice);
    await new Promise((r) => setTimeout(r, 1200));
    const configFile = path.join(dir, 'cairn.yaml');
    await writeFile(
      configFile,
      YAML.stringify({
        dataDir: reg.config.dataDir,
        database: reg.config.database,
        storage: reg.config.storage,
        log: { level: 'warn' },
        auth: { policyDir: reg.config.auth.policyDir },
      }),
    );
    const dry = await cairn(['retention', '-c', configFile, '--dry-run']);
    expect(dry.stdout).toContain(`would delete scratch/a@${old.digest}`);
    expect(dry.stdout).toContain(`kept scratch/a@${pinned.digest}: immutable tag v1.0.0`);
    expect(dry.stdout).not.toContain(used.digest);
    const real = await cairn(['retention', '-c', configFile]);
    // The registry beside it may be writing its receipts: the command waits its turn (stderr shows why not).
    expect([real.code, real.code === 0 ? '' : real.stderr]).toEqual([0, '']);
    expect(real.stdout).toContain(`deleted scratch/a@${old.digest}`);
    expect((await fetch(`${reg.url}/v2/scratch/a/manifests/${old.digest}`, { headers: alice })).status).toBe(404);
    expect((await fetch(`${reg.url}/v2/scratch/a/manifests/v1.0.0`, { headers: alice })).status).toBe(200);
    expect((await fetch(`${reg.url}/v2/scratch/b/manifests/v1`, { headers: alice })).status).toBe(200);
    const events = (await reg.registry.audit.search({ repository: 'scratch/a' })).filter(
      (e) => e.type === 'retention.delete',
    );
    expect(events.map((e) => e.digest)).toContain(old.digest);
    // ml/ is not under a retention rule: nothing there was touched.
    expect(real.stdout).not.toContain('ml/');
  });
});
