import { OciError } from '../../src/oci/errors';
import type { Actor } from '../../src/core/actor';
import type { Change } from '../../src/core/changes';
import { startTestRegistry, type TestRegistry } from '../helpers/server';
import { MODEL_CONFIG, modelConfig, pushArtifact, pushBlobTo, sha256 } from '../helpers/ml-artifacts';

/**
 * The domain core as the one push path: the hooks the composition root registers, a feature added as a
 * hook and refusing over HTTP without a handler edit, the change feed, and an operation called with an
 * actor value and no HTTP request at all.
 */
/** A model manifest over a config blob, as `cairn push` writes it. */
const modelManifest = (config: Buffer) =>
  Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      artifactType: 'application/vnd.cncf.model.manifest.v1+json',
      config: { mediaType: MODEL_CONFIG, digest: sha256(config), size: config.length },
      layers: [],
    }),
  );

describe('the registry core: hooks, change events, and calls without HTTP', () => {
  let r: TestRegistry;
  const changes: (Change & { actor: string })[] = [];
  beforeAll(async () => {
    r = await startTestRegistry({ database: 'sqlite', sessions: 'memory' });
    r.registry.services.core.changes.subscribe((c) => void changes.push(c));
  });
  afterAll(async () => r?.close());

  it('runs every feature as an ordered check or effect, as wired in the composition root', () => {
    const hooks = r.registry.services.core.hooks.describe();
    expect(hooks['manifest.put']).toEqual({
      checks: [
        'validation:replication-loop',
        'validation:artifact',
        'governance:immutable-tag',
        'quota:artifact-quota',
      ],
      effects: ['audit:audit', 'signatures:signature-ingest', 'receipts:receipt', 'changes:change-feed'],
    });
    expect(hooks['manifest.get']).toEqual({
      checks: ['governance:lifecycle-stage', 'trust:trust-policy'],
      effects: ['audit:audit-pull'],
    });
    expect(hooks['manifest.delete']).toEqual({
      checks: ['validation:replication-loop', 'governance:immutable-tag'],
      effects: ['audit:audit', 'changes:change-feed'],
    });
    expect(hooks['blob.commit']).toEqual({
      checks: ['quota:byte-quota'],
      effects: ['audit:audit', 'changes:change-feed'],
    });
    expect(hooks['blob.mount']).toEqual({
      checks: ['quota:byte-quota'],
      effects: ['audit:audit', 'changes:change-feed'],
    });
    expect(hooks['upload.begin']).toEqual({ checks: ['quota:byte-quota'], effects: [] });
    expect(hooks['stage.move']).toEqual({
      checks: ['validation:trust-evidence', 'governance:lifecycle-rules', 'trust:trust-policy'],
      effects: ['audit:audit', 'changes:change-feed'],
    });
  });

  it('lets a feature refuse a push by adding a check: the client gets its error, nothing is stored or published', async () => {
    r.registry.services.core.hooks.manifestPut.check('no-unreviewed', 'governance', (m) => {
      if (m.parsed.annotations?.['test.unreviewed'] === 'true')
        throw new OciError('DENIED', 'unreviewed models may not be pushed here', { rule: 'no-unreviewed' });
    });
    const before = changes.length;
    const refused = await pushArtifact(r.url, 'core/refused', 'v1', {
      artifactType: 'application/vnd.cncf.model.manifest.v1+json',
      configMediaType: MODEL_CONFIG,
      config: modelConfig('refused'),
      annotations: { 'test.unreviewed': 'true' },
    });
    expect(refused.status).toBe(403);
    expect(JSON.parse(refused.body).errors[0]).toMatchObject({
      code: 'DENIED',
      message: 'unreviewed models may not be pushed here',
    });
    expect((await fetch(`${r.url}/v2/core/refused/manifests/v1`)).status).toBe(404);
    // The blobs went through (they are committed before the manifest); the manifest never was.
    expect(changes.slice(before).map((c) => c.type)).toEqual(['blob.push', 'blob.push']);
  });

  it('publishes each committed change after its audit event, with the actor', async () => {
    const before = changes.length;
    const pushed = await pushArtifact(r.url, 'core/feed', 'v1', {
      artifactType: 'application/vnd.cncf.model.manifest.v1+json',
      configMediaType: MODEL_CONFIG,
      config: modelConfig('feed'),
    });
    expect(pushed.status).toBe(201);
    const config = Buffer.from(JSON.stringify(modelConfig('feed')));
    const mount = await fetch(`${r.url}/v2/core/feed-copy/blobs/uploads/?mount=${sha256(config)}&from=core/feed`, {
      method: 'POST',
    });
    expect(mount.status).toBe(201);
    expect((await fetch(`${r.url}/v2/core/feed/manifests/v1`, { method: 'DELETE' })).status).toBe(202);
    const seen = changes.slice(before);
    expect(seen.map((c) => c.type)).toEqual(['blob.push', 'blob.push', 'manifest.push', 'blob.mount', 'tag.delete']);
    expect(seen[2]).toMatchObject({
      repository: 'core/feed',
      digest: pushed.digest,
      tag: 'v1',
      actor: 'auth-disabled',
    });
    expect(seen[3]).toMatchObject({ repository: 'core/feed-copy', from: 'core/feed', digest: sha256(config) });
    expect(seen[4]).toMatchObject({ tag: 'v1', digest: pushed.digest });
    // A lifecycle move through Cairn's API is a change too (replication of promoted artifacts reads it).
    const again = await pushArtifact(r.url, 'core/feed', 'v2', {
      artifactType: 'application/vnd.cncf.model.manifest.v1+json',
      configMediaType: MODEL_CONFIG,
      config: modelConfig('feed-2'),
    });
    const move = await fetch(`${r.url}/v2/core/feed/_cairn/lifecycle/v2?to=candidate`, { method: 'POST' });
    expect(move.status).toBe(200);
    expect(changes.at(-1)).toMatchObject({
      type: 'artifact.stage',
      repository: 'core/feed',
      digest: again.digest,
      from: 'draft',
      to: 'candidate',
    });
    // Each change is in the audit log by the time it is published.
    const events = await r.registry.audit.search({ repository: 'core/feed' });
    expect(events.map((e) => e.type)).toEqual(
      expect.arrayContaining(['manifest.push', 'tag.delete', 'lifecycle.stage']),
    );
  });

  it('takes an actor value, not a request: the CLI or a background job pushes through the same checks', async () => {
    const core = r.registry.services.core;
    const actor: Actor = {
      id: 'user:ci-bot',
      kind: 'user',
      authenticatedBy: 'local',
      source: '10.0.0.7',
      requestId: 'job-42',
      can: () => true,
    };
    const config = Buffer.from(JSON.stringify(modelConfig('direct')));
    expect((await pushBlobTo(r.url, 'core/direct', config)).status).toBe(201);
    const manifest = modelManifest(config);
    const pushed = await core.manifests.put(actor, { repository: 'core/direct', reference: 'v1', content: manifest });
    expect(pushed.digest).toBe(sha256(manifest));
    // The receipt effect ran for it as for an HTTP push.
    await r.registry.services.receipts!.settled();
    const receipts = (await (await fetch(`${r.url}/v2/core/direct/_cairn/receipts/${pushed.digest}`)).json()) as {
      manifests: unknown[];
    };
    expect(receipts.manifests).toHaveLength(1);
    const got = await fetch(`${r.url}/v2/core/direct/manifests/v1`);
    expect(got.status).toBe(200);
    expect(got.headers.get('docker-content-digest')).toBe(pushed.digest);
    const [event] = await r.registry.audit.search({ repository: 'core/direct', digest: pushed.digest });
    expect(event).toMatchObject({ identity: 'user:ci-bot', source: '10.0.0.7', requestId: 'job-42' });

    // The same validation refuses a bad config, without HTTP too.
    const bad = Buffer.from(JSON.stringify({ descriptor: { name: 'x' } }));
    expect((await pushBlobTo(r.url, 'core/direct', bad)).status).toBe(201);
    const badManifest = modelManifest(bad);
    await expect(
      core.manifests.put(actor, { repository: 'core/direct', reference: 'v2', content: badManifest }),
    ).rejects.toMatchObject({ code: 'MANIFEST_INVALID' });
  });
});
