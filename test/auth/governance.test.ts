import { rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { TestRegistry } from '../helpers/server';
import { addUser, bearer, startAuthRegistry, storeOf, token } from '../helpers/auth';
import { pushArtifact, pushBlobTo, pushModel, sha256 } from '../helpers/ml-artifacts';
import { attachBundle, p256, signStatement } from '../helpers/sign-bundle';
import type { AuditEvent } from '../../src/audit/events';

type Json = Record<string, any>;

function rules(window = 'days: [0, 1, 2, 3, 4, 5, 6]\n    fromHour: 0\n    toHour: 24'): string {
  return `
lifecycle:
  - repositories: ["ml/**"]
    fourEyes: true
    approvals: 1
    requiredFields: [licenses]
    metrics:
      accuracy: { min: 0.9 }
  - repositories: ["**"]
sensitive:
  labels: [sensitive]
  approvals: 2
  window:
    ${window}
    timezone: UTC
immutableTags:
  - repositories: ["ml/**"]
    tags: '^v[0-9]+\\.[0-9]+\\.[0-9]+$'
quotas:
  - namespace: "quota/"
    maxBytes: 3000
    maxArtifacts: 2
`;
}

describe('lifecycle governance: four eyes, sensitive approvals and windows, metric thresholds, immutable tags, retired and deprecated, quotas', () => {
  let reg: TestRegistry;
  let base: string;
  const pw = 'a-long-password-1234';
  const tok = (user: string, repo: string, actions = 'pull,push,approve') =>
    token(base, user, pw, [`repository:${repo}:${actions}`]);
  const as = async (user: string, repo: string, actions?: string) => bearer(await tok(user, repo, actions));
  const move = async (user: string, repo: string, ref: string, to: string, reason?: string) => {
    const r = await fetch(`${base}/v2/${repo}/_cairn/lifecycle/${ref}?to=${to}`, {
      method: 'POST',
      headers: await as(user, repo),
      ...(reason ? { body: JSON.stringify({ reason }) } : {}),
    });
    return { status: r.status, body: (await r.json()) as Json };
  };
  const events = async (repository: string, type: string): Promise<AuditEvent[]> => {
    // Denials by policy are recorded without holding the response: let them land first.
    await reg.registry.audit.flush();
    return (await reg.registry.audit.search({ repository })).filter((e) => e.type === type);
  };
  const writeRules = async (text: string) => {
    await writeFile(path.join(reg.config.auth.policyDir, 'governance.yaml'), text);
    // Reloaded within policyReloadSeconds (1 s here); a new mtime is what it looks for.
    await new Promise((r) => setTimeout(r, 1300));
  };

  beforeAll(async () => {
    reg = await startAuthRegistry();
    base = reg.url;
    await addUser(
      reg,
      'alice',
      pw,
      [],
      [
        ['maintainer', 'ml/'],
        ['maintainer', 'quota/'],
        ['maintainer', 'scratch/'],
      ],
    );
    await addUser(reg, 'bob', pw, [], [['approver', 'ml/']]);
    await addUser(reg, 'carol', pw, [], [['approver', 'ml/']]);
    await addUser(reg, 'dave', pw, [], [['reader', 'ml/']]);
    await storeOf(reg).setLabels({ name: 'ml/secret', ownerTeam: undefined, sensitivity: 'sensitive' });
    await writeRules(rules());
  });
  afterAll(async () => reg.close());

  it('refuses self-approval (four eyes) and accepts another approver; each step is in the audit log', async () => {
    const m = await pushModel(
      base,
      'ml/m',
      'v1.0.0',
      { 'org.cairn.metrics': '{"accuracy":0.95}' },
      await as('alice', 'ml/m'),
    );
    expect(m.status).toBe(201);
    expect((await move('alice', 'ml/m', 'v1.0.0', 'candidate')).status).toBe(200);
    const self = await move('alice', 'ml/m', 'v1.0.0', 'approved');
    expect(self.status).toBe(403);
    expect(self.body.errors[0]).toMatchObject({ code: 'DENIED', detail: { rule: 'four-eyes' } });
    expect(self.body.errors[0].message).toMatch(/user:alice pushed this artifact and may not approve it/);
    const denied = await events('ml/m', 'governance.denied');
    expect(denied.at(-1)).toMatchObject({
      identity: 'user:alice',
      digest: m.digest,
      decision: 'deny',
      detail: { rule: 'four-eyes' },
    });

    // A reader may not approve at all (policy, before governance).
    const dave = await fetch(`${base}/v2/ml/m/_cairn/lifecycle/v1.0.0?to=approved`, {
      method: 'POST',
      headers: await as('dave', 'ml/m', 'pull'),
    });
    expect([401, 403]).toContain(dave.status);

    const ok = await move('bob', 'ml/m', 'v1.0.0', 'approved', 'eval report #12');
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({
      stage: 'approved',
      previousStage: 'candidate',
      approvals: ['user:bob'],
      approvalsRequired: 1,
      stageChangedBy: 'user:bob',
      stageReason: 'eval report #12',
    });
    const stage = await events('ml/m', 'lifecycle.stage');
    expect(stage.map((e) => [e.identity, e.detail?.from, e.detail?.to])).toEqual([
      ['user:alice', 'draft', 'candidate'],
      ['user:bob', 'candidate', 'approved'],
    ]);
    // Not a move the lifecycle has.
    const back = await move('alice', 'ml/m', 'v1.0.0', 'draft');
    expect(back.body.errors[0].detail.rule).toBe('transition');
  });

  it('requires the metric and licence the rules name before approval', async () => {
    const noMetric = await pushModel(base, 'ml/nometric', 'v1', {}, await as('alice', 'ml/nometric'));
    const low = await pushModel(
      base,
      'ml/low',
      'v1',
      { 'org.cairn.metrics': '{"accuracy":0.7}' },
      await as('alice', 'ml/low'),
    );
    for (const [repo, why] of [
      ['ml/nometric', /evaluation metric "accuracy" is required before approval/],
      ['ml/low', /"accuracy" is 0.7, below the minimum 0.9/],
    ] as const) {
      expect((await move('alice', repo, 'v1', 'candidate')).status).toBe(200);
      const r = await move('bob', repo, 'v1', 'approved');
      expect(r.status).toBe(403);
      expect(r.body.errors[0].detail.rule).toBe('metric-threshold');
      expect(r.body.errors[0].message).toMatch(why);
      expect((await events(repo, 'governance.denied')).at(-1)?.detail).toMatchObject({
        rule: 'metric-threshold',
        from: 'candidate',
        to: 'approved',
      });
    }
    expect([noMetric.status, low.status]).toEqual([201, 201]);
  });

  it('needs two different approvers for a sensitive artifact, and only inside the approval window', async () => {
    const m = await pushModel(
      base,
      'ml/secret',
      'v1',
      { 'org.cairn.metrics': '{"accuracy":0.99}' },
      await as('alice', 'ml/secret'),
    );
    expect(m.status).toBe(201);
    await move('alice', 'ml/secret', 'v1', 'candidate');
    const first = await move('bob', 'ml/secret', 'v1', 'approved');
    expect(first.status).toBe(202);
    expect(first.body).toMatchObject({ stage: 'candidate', approvals: ['user:bob'], approvalsRequired: 2 });
    const again = await move('bob', 'ml/secret', 'v1', 'approved');
    expect(again.status).toBe(403);
    expect(again.body.errors[0].message).toMatch(/already approved/);
    const second = await move('carol', 'ml/secret', 'v1', 'approved');
    expect(second.status).toBe(200);
    expect(second.body).toMatchObject({ stage: 'approved', approvals: ['user:bob', 'user:carol'] });
    expect((await events('ml/secret', 'lifecycle.approve')).map((e) => e.identity)).toEqual(['user:bob']);

    // A window that excludes this hour.
    const hour = new Date().getUTCHours();
    await writeRules(
      rules(
        hour < 12
          ? 'days: [0, 1, 2, 3, 4, 5, 6]\n    fromHour: 12\n    toHour: 24'
          : 'days: [0, 1, 2, 3, 4, 5, 6]\n    fromHour: 0\n    toHour: 12',
      ),
    );
    try {
      await pushModel(
        base,
        'ml/secret',
        'v2',
        { 'org.cairn.metrics': '{"accuracy":0.99}' },
        await as('alice', 'ml/secret'),
      );
      await move('alice', 'ml/secret', 'v2', 'candidate');
      const outside = await move('bob', 'ml/secret', 'v2', 'approved');
      expect(outside.status).toBe(403);
      expect(outside.body.errors[0].detail.rule).toBe('approval-window');
      expect((await events('ml/secret', 'governance.denied')).at(-1)?.detail?.rule).toBe('approval-window');
      // Not sensitive: the window does not apply.
      await pushModel(
        base,
        'ml/open',
        'v1',
        { 'org.cairn.metrics': '{"accuracy":0.99}' },
        await as('alice', 'ml/open'),
      );
      await move('alice', 'ml/open', 'v1', 'candidate');
      expect((await move('bob', 'ml/open', 'v1', 'approved')).status).toBe(200);
    } finally {
      await writeRules(rules());
    }
  });

  it('keeps semantic-version tags immutable: no move, no delete; other tags move freely', async () => {
    const h = await as('alice', 'ml/tags', 'pull,push,delete');
    const one = await pushModel(base, 'ml/tags', 'v2.0.0', {}, h);
    const other = await pushModel(
      base,
      'ml/tags',
      'v2.0.0',
      { 'org.opencontainers.image.description': 'different' },
      h,
    );
    expect(other.status).toBe(403);
    expect(JSON.parse(other.body).errors[0]).toMatchObject({
      code: 'DENIED',
      detail: { rule: 'immutable-tag', current: one.digest },
    });
    expect((await events('ml/tags', 'governance.denied')).at(-1)).toMatchObject({
      tag: 'v2.0.0',
      detail: { rule: 'immutable-tag' },
    });
    // Re-pushing the same manifest under it is not a move.
    expect((await pushModel(base, 'ml/tags', 'v2.0.0', {}, h)).status).toBe(201);
    expect((await fetch(`${base}/v2/ml/tags/manifests/v2.0.0`, { method: 'DELETE', headers: h })).status).toBe(403);
    expect((await fetch(`${base}/v2/ml/tags/manifests/${one.digest}`, { method: 'DELETE', headers: h })).status).toBe(
      403,
    );
    const r = await fetch(`${base}/v2/ml/tags/manifests/v2.0.0`, { headers: h });
    expect(r.headers.get('docker-content-digest')).toBe(one.digest);
    // latest is not immutable.
    expect((await pushModel(base, 'ml/tags', 'latest', {}, h)).status).toBe(201);
    expect(
      (await pushModel(base, 'ml/tags', 'latest', { 'org.opencontainers.image.description': 'moved' }, h)).status,
    ).toBe(201);
  });

  it('serves deprecated artifacts with a warning and retired ones only to approvers', async () => {
    const m = await pushModel(
      base,
      'ml/old',
      'v1',
      { 'org.cairn.metrics': '{"accuracy":0.95}' },
      await as('alice', 'ml/old'),
    );
    await move('alice', 'ml/old', 'v1', 'candidate');
    await move('bob', 'ml/old', 'v1', 'approved');
    expect((await move('bob', 'ml/old', 'v1', 'deprecated', 'superseded by ml/new')).status).toBe(200);
    const dep = await fetch(`${base}/v2/ml/old/manifests/v1`, { headers: await as('dave', 'ml/old', 'pull') });
    expect(dep.status).toBe(200);
    expect(dep.headers.get('warning')).toBe('299 cairn "deprecated: superseded by ml/new"');
    expect((await move('bob', 'ml/old', 'v1', 'retired', 'licence withdrawn')).status).toBe(200);
    const gone = await fetch(`${base}/v2/ml/old/manifests/${m.digest}`, {
      headers: await as('dave', 'ml/old', 'pull'),
    });
    expect(gone.status).toBe(403);
    expect(((await gone.json()) as Json).errors[0].message).toMatch(/retired and no longer served: licence withdrawn/);
    const approver = await fetch(`${base}/v2/ml/old/manifests/${m.digest}`, {
      headers: await as('bob', 'ml/old', 'pull,approve'),
    });
    expect(approver.status).toBe(200);
    expect((await move('bob', 'ml/old', 'v1', 'approved')).body.errors[0].message).toMatch(/retired is final/);
  });

  it('enforces namespace quotas at push time with a clear error, and shows usage', async () => {
    const h = await as('alice', 'quota/a');
    expect((await pushBlobTo(base, 'quota/a', Buffer.alloc(2000, 1), h)).status).toBe(201);
    const over = await pushBlobTo(base, 'quota/a', Buffer.alloc(1500, 2), h);
    expect(over.status).toBe(403);
    const err = ((await over.json()) as Json).errors[0];
    expect(err).toMatchObject({
      code: 'DENIED',
      detail: { rule: 'quota', namespace: 'quota/', usedBytes: 2000, maxBytes: 3000, requestedBytes: 1500 },
    });
    expect(err.message).toMatch(/storage quota of namespace quota\/ exceeded/);
    expect(
      (await fetch(`${base}/v2/quota/a/blobs/${sha256(Buffer.alloc(1500, 2))}`, { method: 'HEAD', headers: h })).status,
    ).toBe(404);

    // Artifact count: two manifests fit, the third is refused.
    for (const tag of ['one', 'two'])
      expect(
        (
          await pushArtifact(base, 'quota/a', tag, {
            configMediaType: 'application/vnd.oci.empty.v1+json',
            config: {},
            files: { 'a.txt': tag },
            headers: h,
          })
        ).status,
      ).toBe(201);
    const third = await pushArtifact(base, 'quota/a', 'three', {
      configMediaType: 'application/vnd.oci.empty.v1+json',
      config: {},
      files: { 'a.txt': 'x' },
      headers: h,
    });
    expect(third.status).toBe(403);
    expect(JSON.parse(third.body).errors[0].detail).toMatchObject({ rule: 'quota', usedArtifacts: 2, maxArtifacts: 2 });

    const quotas = await fetch(`${base}/v2/_cairn/quotas`, {
      headers: bearer(await token(base, 'alice', pw, ['registry:catalog:*'])),
    });
    expect(((await quotas.json()) as Json).quotas).toEqual([
      expect.objectContaining({ namespace: 'quota/', maxBytes: 3000, maxArtifacts: 2, usedArtifacts: 2 }),
    ]);
    const one = await fetch(`${base}/v2/quota/a/_cairn/quota`, { headers: h });
    expect(((await one.json()) as Json).quota.namespace).toBe('quota/');
    expect((await events('quota/a', 'governance.denied')).map((e) => e.detail?.rule)).toEqual(['quota', 'quota']);
  });

  it('lets Cedar policies decide which lifecycle moves an identity may make (context.targetStage)', async () => {
    const file = path.join(reg.config.auth.policyDir, 'leads.cedar');
    await writeFile(
      file,
      `@id("only-leads-retire")
forbid (principal, action == Cairn::Action::"approve", resource)
when { context has targetStage && context.targetStage == "retired" }
unless { principal in Cairn::Group::"ml-leads" };
`,
    );
    await reg.registry.auth!.authorizer.load();
    try {
      await addUser(reg, 'lea', pw, ['ml-leads'], [['approver', 'ml/']]);
      await pushModel(
        base,
        'ml/staged',
        'v1',
        { 'org.cairn.metrics': '{"accuracy":0.95}' },
        await as('alice', 'ml/staged'),
      );
      await move('alice', 'ml/staged', 'v1', 'candidate');
      expect((await move('bob', 'ml/staged', 'v1', 'approved')).status).toBe(200);
      expect((await move('bob', 'ml/staged', 'v1', 'deprecated')).status).toBe(200);
      const bob = await fetch(`${base}/v2/ml/staged/_cairn/lifecycle/v1?to=retired`, {
        method: 'POST',
        headers: await as('bob', 'ml/staged'),
      });
      expect(bob.status).toBe(403);
      expect((await events('ml/staged', 'access.denied')).at(-1)?.detail?.policies).toBe('only-leads-retire');
      expect((await move('lea', 'ml/staged', 'v1', 'retired')).status).toBe(200);
    } finally {
      await rm(file);
      await reg.registry.auth!.authorizer.load();
    }
  });

  it('approves in a repository with an enforced trust policy only what satisfies it', async () => {
    const release = p256();
    await writeFile(path.join(reg.config.auth.policyDir, 'release.pub'), release.pem);
    await writeFile(
      path.join(reg.config.auth.policyDir, 'trust.yaml'),
      `keys: [{ name: release, publicKeyFile: release.pub }]\npolicies:\n  - repositories: ["ml/signed/**"]\n    mode: enforce\n    signers: [{ key: release }]\n`,
    );
    await new Promise((r) => setTimeout(r, 1300));
    try {
      const h = await as('alice', 'ml/signed/m');
      const m = await pushModel(base, 'ml/signed/m', 'v1', { 'org.cairn.metrics': '{"accuracy":0.95}' }, h);
      await move('alice', 'ml/signed/m', 'v1', 'candidate');
      const unsigned = await move('bob', 'ml/signed/m', 'v1', 'approved');
      expect(unsigned.status).toBe(403);
      expect(unsigned.body.errors[0].detail.rule).toBe('trust-policy');
      expect(unsigned.body.errors[0].message).toMatch(/requires a verified signature by key release/);
      const size = Number(
        (await fetch(`${base}/v2/ml/signed/m/manifests/v1`, { method: 'HEAD', headers: h })).headers.get(
          'content-length',
        ),
      );
      expect(
        (
          await attachBundle(
            base,
            'ml/signed/m',
            { digest: m.digest, size },
            await signStatement(release, m.digest, 'https://sigstore.dev/cosign/sign/v1'),
            'https://sigstore.dev/cosign/sign/v1',
            h,
          )
        ).status,
      ).toBe(201);
      expect((await move('bob', 'ml/signed/m', 'v1', 'approved')).status).toBe(200);
    } finally {
      await rm(path.join(reg.config.auth.policyDir, 'trust.yaml'));
    }
  });

  it('keeps the previous rules when the file becomes invalid', async () => {
    await writeRules('lifecycle: [{ approvals: "many" }]');
    try {
      const m = await pushModel(base, 'ml/tags', 'v9.9.9', {}, await as('alice', 'ml/tags'));
      expect(m.status).toBe(201);
      // Still immutable: the old rules are in force.
      expect((await pushModel(base, 'ml/tags', 'v9.9.9', { x: 'y' }, await as('alice', 'ml/tags'))).status).toBe(403);
    } finally {
      await writeRules(rules());
    }
  });
});
