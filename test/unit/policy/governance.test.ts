import {
  evaluateTransition,
  approvalReadiness,
  actionFor,
  type TransitionRequest,
} from '../../../src/policy/lifecycle-rules';
import {
  immutableTag,
  localTime,
  parseGovernance,
  quotaFor,
  repositoryMatches,
  GovernanceError,
  type Stage,
} from '../../../src/policy/governance';
import { extractMetadata } from '../../../src/artifacts/metadata';

const meta = (annotations: Record<string, string> = {}) =>
  extractMetadata({
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    artifactType: 'application/vnd.cncf.model.manifest.v1+json',
    configMediaType: 'application/vnd.cncf.model.config.v1+json',
    config: { descriptor: { name: 'm', licenses: ['MIT'] }, config: {}, modelfs: { type: 'layers', diff_ids: [] } },
    annotations,
    layers: [],
    pushedBy: 'user:alice',
  });

const rules = parseGovernance(
  `
lifecycle:
  - repositories: ["ml/**"]
    requiredFields: [licenses, datasets]
    metrics: { accuracy: { min: 0.9 }, loss: { max: 0.2 } }
  - repositories: ["open/*"]
    fourEyes: false
sensitive:
  approvals: 2
  window: { days: [1, 2, 3, 4, 5], fromHour: 9, toHour: 17, timezone: Europe/Berlin }
immutableTags:
  - repositories: ["ml/**"]
    tags: '^v[0-9]+\\.[0-9]+\\.[0-9]+$'
quotas:
  - { namespace: "ml/", maxBytes: 100 }
  - { namespace: "ml/vision/", maxArtifacts: 5 }
`,
  'test',
);

// Wednesday 2026-11-25 10:00 in Berlin (09:00 UTC).
const inside = new Date('2026-11-25T09:00:00Z');
const base = (over: Partial<TransitionRequest> = {}): TransitionRequest => ({
  repository: 'ml/m',
  from: 'candidate',
  to: 'approved',
  metadata: meta({
    'org.cairn.datasets': `sha256:${'a'.repeat(64)}`,
    'org.cairn.metrics': '{"accuracy":0.95,"loss":0.1}',
  }),
  actor: 'user:bob',
  publisher: 'user:alice',
  approvals: [],
  now: inside,
  ...over,
});

describe('governance rules', () => {
  it('matches repository patterns segment by segment', () => {
    expect(repositoryMatches('ml/**', 'ml/a/b')).toBe(true);
    expect(repositoryMatches('ml/*', 'ml/a/b')).toBe(false);
    expect(repositoryMatches('ml/*', 'ml/a')).toBe(true);
    expect(repositoryMatches('**', 'x')).toBe(true);
    expect(repositoryMatches('ml.x/*', 'mlyx/a')).toBe(false);
  });

  it('refuses invalid files with the path of each problem', () => {
    expect(() => parseGovernance('lifecycle: [{ approvals: 0 }]', 'g.yaml')).toThrow(GovernanceError);
    expect(() => parseGovernance('lifecycle: [{ approvals: 0 }]', 'g.yaml')).toThrow(/g.yaml: lifecycle.0.approvals/);
    expect(() => parseGovernance('immutableTags: [{ tags: "(" }]', 'g')).toThrow(/not a valid regular expression/);
    expect(() => parseGovernance('sensitive: { window: { fromHour: 9, toHour: 8 } }', 'g')).toThrow(
      /fromHour must be before toHour/,
    );
    expect(() =>
      parseGovernance('sensitive: { window: { fromHour: 9, toHour: 17, timezone: Mars/Base } }', 'g'),
    ).toThrow(/unknown timezone/);
    expect(() => parseGovernance('quotas: [{ namespace: ml }]', 'g')).toThrow(/namespace ends with/);
    expect(() => parseGovernance('surprise: 1', 'g')).toThrow(/Unrecognized key/);
    expect(() => parseGovernance('a: [', 'g')).toThrow(/not valid YAML/);
    expect(parseGovernance('', 'g').lifecycle[0]).toMatchObject({ fourEyes: true, approvals: 1 });
  });

  it('picks the most specific quota and immutable tag rules', () => {
    expect(quotaFor(rules, 'ml/vision/resnet')?.maxArtifacts).toBe(5);
    expect(quotaFor(rules, 'ml/nlp/bert')?.maxBytes).toBe(100);
    expect(quotaFor(rules, 'mlx/a')).toBeUndefined();
    expect(immutableTag(rules, 'ml/a', 'v1.2.3')).toBeDefined();
    expect(immutableTag(rules, 'ml/a', 'latest')).toBeUndefined();
    expect(immutableTag(rules, 'other/a', 'v1.2.3')).toBeUndefined();
  });

  it('reads the local hour and weekday in a time zone', () => {
    expect(localTime(new Date('2026-11-25T23:30:00Z'), 'Europe/Berlin')).toEqual({ weekday: 4, hour: 0 });
    expect(localTime(new Date('2026-11-25T23:30:00Z'), 'UTC')).toEqual({ weekday: 3, hour: 23 });
  });

  it('says what approval needs: required fields and metric thresholds', () => {
    expect(approvalReadiness(rules, 'ml/m', base().metadata)).toEqual([]);
    const missing = approvalReadiness(rules, 'ml/m', meta({ 'org.cairn.metrics': '{"accuracy":0.5,"loss":0.3}' }));
    expect(missing.map((p) => [p.rule, p.field])).toEqual([
      ['required-field', 'datasets'],
      ['metric-threshold', 'metrics.accuracy'],
      ['metric-threshold', 'metrics.loss'],
    ]);
    expect(approvalReadiness(rules, 'open/m', meta())).toEqual([]);
  });

  it('decides lifecycle moves', () => {
    expect(evaluateTransition(rules, base())).toEqual({
      ok: true,
      stage: 'approved',
      approvals: ['user:bob'],
      required: 1,
    });
    const self = evaluateTransition(rules, base({ actor: 'user:alice' }));
    expect(self.ok || self.problems.map((p) => p.rule)).toEqual(['four-eyes']);
    expect(evaluateTransition(rules, base({ repository: 'open/m', actor: 'user:alice' })).ok).toBe(true);
    const twice = evaluateTransition(rules, base({ approvals: ['user:bob'] }));
    expect(twice.ok || twice.problems[0]!.message).toMatch(/already approved/);
    for (const [from, to] of [
      ['draft', 'approved'],
      ['retired', 'approved'],
      ['approved', 'candidate'],
      ['deprecated', 'draft'],
    ] as [Stage, Stage][]) {
      const r = evaluateTransition(rules, base({ from, to }));
      expect([from, to, r.ok || r.problems[0]!.rule]).toEqual([from, to, 'transition']);
    }
    expect(evaluateTransition(rules, base({ from: 'deprecated', to: 'approved', actor: 'user:alice' })).ok).toBe(true);
    expect(evaluateTransition(rules, base({ from: 'approved', to: 'retired' }))).toMatchObject({
      ok: true,
      stage: 'retired',
    });
    expect([actionFor('candidate'), actionFor('draft'), actionFor('approved'), actionFor('retired')]).toEqual([
      'push',
      'push',
      'approve',
      'approve',
    ]);
  });

  it('needs two approvals for sensitive artifacts, inside the window only', () => {
    const sensitive = base({ sensitivity: 'restricted' });
    expect(evaluateTransition(rules, sensitive)).toEqual({
      ok: true,
      stage: 'candidate',
      approvals: ['user:bob'],
      required: 2,
    });
    expect(evaluateTransition(rules, { ...sensitive, actor: 'user:carol', approvals: ['user:bob'] })).toMatchObject({
      ok: true,
      stage: 'approved',
    });
    const annotated = base({ metadata: { ...base().metadata, sensitivity: 'sensitive' } });
    expect(evaluateTransition(rules, annotated)).toMatchObject({ stage: 'candidate', required: 2 });
    for (const at of ['2026-11-25T17:00:00Z', '2026-11-28T10:00:00Z', '2026-11-25T07:59:00Z']) {
      const r = evaluateTransition(rules, { ...sensitive, now: new Date(at) });
      expect([at, r.ok || r.problems.map((p) => p.rule)]).toEqual([at, ['approval-window']]);
    }
    expect(evaluateTransition(rules, { ...base(), now: new Date('2026-11-28T03:00:00Z') }).ok).toBe(true);
  });

  it('requires signatures and attestations when the rules say so, from the evidence given', () => {
    const signed = parseGovernance(
      'lifecycle: [{ fourEyes: false, requiredSignatures: 1, requiredAttestations: ["https://slsa.dev/provenance/v1"] }]',
      'g',
    );
    const none = evaluateTransition(signed, base());
    expect(none.ok || none.problems.map((p) => p.rule)).toEqual(['signature-required', 'attestation-required']);
    expect(
      evaluateTransition(
        signed,
        base({ evidence: { signatures: 1, attestations: ['https://slsa.dev/provenance/v1'] } }),
      ).ok,
    ).toBe(true);
  });
});
