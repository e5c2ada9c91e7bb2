import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startTestRegistry, type TestRegistry } from '../helpers/server';
import { sign } from 'node:crypto';
import { pushModel } from '../helpers/ml-artifacts';
import { attachBundle, p256, putLegacySignature, signStatement } from '../helpers/sign-bundle';

type Json = Record<string, any>;
const SIGN = 'https://sigstore.dev/cosign/sign/v1';
const SLSA = 'https://slsa.dev/provenance/v1';
const provenance = (builder: string) => ({
  buildDefinition: { buildType: 'https://ci.example/train/v1', externalParameters: {} },
  runDetails: { builder: { id: builder } },
});

describe('signatures verified on push, trust policy enforced on pull', () => {
  let reg: TestRegistry;
  let dir: string;
  const release = p256();
  const stranger = p256();
  const trust = (revoked = '') => `
keys:
  - name: release
    publicKeyFile: release.pub
policies:
  - repositories: ["prod/**"]
    mode: enforce
    signers: [{ key: release }]
    attestations:
      - predicateType: ${SLSA}
        builder: "https://ci.example/builders/*"
  - repositories: ["audit/strict/**"]
    mode: audit
    signers: [{ key: release }]
    attestations:
      - predicateType: ${SLSA}
        builder: "https://ci.example/builders/*"
  - repositories: ["audit/**"]
    mode: audit
    signers: [{ key: release }]
${revoked}`;
  const setTrust = async (text: string) => {
    await writeFile(path.join(dir, 'trust.yaml'), text);
    await new Promise((r) => setTimeout(r, 1300));
  };
  const get = async (p: string, method = 'GET') => {
    const r = await fetch(`${reg.url}${p}`, { method });
    return { status: r.status, headers: r.headers, body: method === 'HEAD' ? {} : ((await r.json()) as Json) };
  };

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'cairn-trust-'));
    await writeFile(path.join(dir, 'release.pub'), release.pem);
    await writeFile(path.join(dir, 'trust.yaml'), trust());
    reg = await startTestRegistry(
      { database: 'sqlite', sessions: 'memory' },
      { auth: { mode: 'none', policyDir: dir, policyReloadSeconds: 1 } },
    );
  });
  afterAll(async () => {
    await reg.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('denies in enforce mode what is unsigned, wrongly signed, unproven or tampered, saying what is missing; serves what satisfies the policy', async () => {
    const m = await pushModel(reg.url, 'prod/model', 'v1');
    const subject = { digest: m.digest, size: Buffer.byteLength(JSON.stringify({})) };
    const manifestSize = Number(
      (await fetch(`${reg.url}/v2/prod/model/manifests/v1`, { method: 'HEAD' })).headers.get('content-length'),
    );
    subject.size = manifestSize;

    const unsigned = await get('/v2/prod/model/manifests/v1');
    expect(unsigned.status).toBe(403);
    expect(unsigned.body.errors[0].code).toBe('DENIED');
    expect(unsigned.body.errors[0].detail.missing).toEqual([
      `a verified signature by key release`,
      `a verified ${SLSA} attestation by key release from builder https://ci.example/builders/*`,
    ]);
    // HEAD still answers: signing needs the digest of what it signs.
    expect((await get('/v2/prod/model/manifests/v1', 'HEAD')).status).toBe(200);

    // Signed by a key nobody trusts: stored, recorded as not verified, still denied.
    const strangerSig = await attachBundle(
      reg.url,
      'prod/model',
      subject,
      await signStatement(stranger, m.digest, SIGN),
      SIGN,
    );
    expect(strangerSig.status).toBe(201);
    let report = (await get(`/v2/prod/model/_cairn/verify/v1`)).body;
    expect(report).toMatchObject({ mode: 'enforce', satisfied: false });
    expect(report.signatures).toEqual([
      expect.objectContaining({
        digest: strangerSig.digest,
        verified: false,
        accepted: false,
        why: expect.stringMatching(/key that is not trusted/),
      }),
    ]);

    // A tampered bundle (payload changed after signing) is not verified either.
    const good = await signStatement(release, m.digest, SIGN);
    const tampered = JSON.parse(JSON.stringify(good));
    tampered.dsseEnvelope.payload = Buffer.from(
      JSON.stringify({
        _type: 'https://in-toto.io/Statement/v1',
        subject: [{ name: 'x', digest: { sha256: m.digest.slice(7) } }],
        predicateType: SIGN,
        predicate: { evil: true },
      }),
    ).toString('base64');
    await attachBundle(reg.url, 'prod/model', subject, tampered, SIGN);
    report = (await get(`/v2/prod/model/_cairn/verify/v1`)).body;
    expect(report.signatures.find((x: Json) => x.verified === false && /does not verify/.test(x.why))).toBeDefined();

    // The release key's signature: the signature part is satisfied, the provenance still missing.
    await attachBundle(reg.url, 'prod/model', subject, good, SIGN);
    const noProvenance = await get('/v2/prod/model/manifests/v1');
    expect(noProvenance.status).toBe(403);
    expect(noProvenance.body.errors[0].detail.missing).toEqual([
      `a verified ${SLSA} attestation by key release from builder https://ci.example/builders/*`,
    ]);

    // Provenance from a builder the policy does not allow: still missing.
    await attachBundle(
      reg.url,
      'prod/model',
      subject,
      await signStatement(release, m.digest, SLSA, provenance('https://evil.example/builder')),
      SLSA,
    );
    expect((await get('/v2/prod/model/manifests/v1')).status).toBe(403);

    // And from the right one: served.
    await attachBundle(
      reg.url,
      'prod/model',
      subject,
      await signStatement(release, m.digest, SLSA, provenance('https://ci.example/builders/gpu')),
      SLSA,
    );
    const ok = await get('/v2/prod/model/manifests/v1');
    expect(ok.status).toBe(200);
    expect(ok.headers.get('cairn-trust')).toBe('satisfied');
    report = (await get(`/v2/prod/model/_cairn/verify/v1`)).body;
    expect(report).toMatchObject({ satisfied: true, missing: [] });
    expect(
      report.signatures
        .filter((x: Json) => x.accepted)
        .map((x: Json) => [x.predicateType, x.signer.key, x.builder ?? null]),
    ).toEqual([
      [SIGN, 'release', null],
      [SLSA, 'release', 'https://evil.example/builder'],
      [SLSA, 'release', 'https://ci.example/builders/gpu'],
    ]);
    // The signatures themselves stay readable (a verifier needs them), and every push was recorded.
    expect(
      (await get(`/v2/prod/model/referrers/${m.digest}?artifactType=application/vnd.dev.sigstore.bundle.v0.3%2Bjson`))
        .body.manifests,
    ).toHaveLength(5);
    const events = (await reg.registry.audit.search({ repository: 'prod/model' })).filter(
      (e) => e.type === 'signature.verify',
    );
    expect(events.map((e) => e.detail?.verified)).toEqual([false, false, true, true, true]);

    // Revoking the release key: the same artifact is denied again, and says why.
    await setTrust(trust('revoked:\n  keys: [release]'));
    const revoked = await get('/v2/prod/model/manifests/v1');
    expect(revoked.status).toBe(403);
    report = (await get(`/v2/prod/model/_cairn/verify/v1`)).body;
    expect(
      report.signatures
        .filter((x: Json) => x.verified)
        .every((x: Json) => x.accepted === false && x.why === 'key release is revoked'),
    ).toBe(true);
    // The background re-check records each signature whose standing changed.
    const rechecks = async (accepted: boolean) => {
      for (let i = 0; i < 50; i++) {
        await reg.registry.audit.flush();
        const found = (await reg.registry.audit.search({ repository: 'prod/model' })).filter(
          (e) => e.type === 'signature.recheck' && e.detail?.accepted === accepted,
        );
        if (found.length >= 3) return found;
        await new Promise((r) => setTimeout(r, 200));
      }
      throw new Error('no re-check events');
    };
    const revokedEvents = await rechecks(false);
    expect(revokedEvents[0]).toMatchObject({
      identity: 'system',
      decision: 'deny',
      detail: { verified: true, accepted: false, wasAccepted: true, reason: 'key release is revoked' },
    });
    await setTrust(trust());
    expect((await get('/v2/prod/model/manifests/v1')).status).toBe(200);
    expect((await rechecks(true))[0]).toMatchObject({
      decision: 'allow',
      detail: { accepted: true, wasAccepted: false },
    });
  });

  it("verifies cosign v2's tag scheme too: a simple-signing .sig and a DSSE .att with trusted keys", async () => {
    const m = await pushModel(reg.url, 'prod/legacy', 'v1');
    const hex = m.digest.slice(7);
    const put = (tag: string, layer: Buffer, mediaType: string, annotations: Record<string, string>) =>
      putLegacySignature(reg.url, 'prod/legacy', tag, layer, mediaType, annotations);
    const payload = Buffer.from(
      JSON.stringify({
        critical: {
          identity: { 'docker-reference': 'registry/prod/legacy' },
          image: { 'docker-manifest-digest': m.digest },
          type: 'cosign container image signature',
        },
        optional: null,
      }),
    );
    // A signature by an untrusted key first, then the release key's.
    expect(
      (
        await put(`sha256-${hex}.sig`, payload, 'application/vnd.dev.cosign.simplesigning.v1+json', {
          'dev.cosignproject.cosign/signature': sign('sha256', payload, stranger.privateKey).toString('base64'),
        })
      ).status,
    ).toBe(201);
    let report = (await get('/v2/prod/legacy/_cairn/verify/v1')).body;
    expect(report.signatures[0]).toMatchObject({ verified: false, why: expect.stringMatching(/not trusted/) });
    expect(
      (
        await put(`sha256-${hex}.sig`, payload, 'application/vnd.dev.cosign.simplesigning.v1+json', {
          'dev.cosignproject.cosign/signature': sign('sha256', payload, release.privateKey).toString('base64'),
        })
      ).status,
    ).toBe(201);
    const statement = Buffer.from(
      JSON.stringify({
        _type: 'https://in-toto.io/Statement/v1',
        subject: [{ name: 'x', digest: { sha256: hex } }],
        predicateType: SLSA,
        predicate: provenance('https://ci.example/builders/cpu'),
      }),
    );
    const pae = Buffer.concat([Buffer.from(`DSSEv1 28 application/vnd.in-toto+json ${statement.length} `), statement]);
    const envelope = Buffer.from(
      JSON.stringify({
        payloadType: 'application/vnd.in-toto+json',
        payload: statement.toString('base64'),
        signatures: [{ keyid: '', sig: sign('sha256', pae, release.privateKey).toString('base64') }],
      }),
    );
    expect(
      (await put(`sha256-${hex}.att`, envelope, 'application/vnd.dsse.envelope.v1+json', { predicateType: SLSA }))
        .status,
    ).toBe(201);
    report = (await get('/v2/prod/legacy/_cairn/verify/v1')).body;
    expect(report).toMatchObject({ satisfied: true });
    expect(
      report.signatures.filter((x: Json) => x.accepted).map((x: Json) => [x.predicateType ?? null, x.signer.key]),
    ).toEqual([
      [null, 'release'],
      [SLSA, 'release'],
    ]);
    expect((await get('/v2/prod/legacy/manifests/v1')).status).toBe(200);
    // A payload altered after signing does not verify.
    const altered = Buffer.from(
      payload.toString().replace('cosign container image signature', 'cosign container image signaturE'),
    );
    expect(
      (
        await put(`sha256-${hex}.sig`, altered, 'application/vnd.dev.cosign.simplesigning.v1+json', {
          'dev.cosignproject.cosign/signature': sign('sha256', payload, release.privateKey).toString('base64'),
        })
      ).status,
    ).toBe(201);
    report = (await get('/v2/prod/legacy/_cairn/verify/v1')).body;
    expect(report.signatures.some((x: Json) => !x.verified && /altered/.test(x.why))).toBe(true);
  });

  it('serves and flags in audit mode, with an audit event', async () => {
    const m = await pushModel(reg.url, 'audit/model', 'v1');
    const r = await get('/v2/audit/model/manifests/v1');
    expect(r.status).toBe(200);
    expect(r.headers.get('cairn-trust')).toBe('unsatisfied; a verified signature by key release');
    await reg.registry.audit.flush();
    const v = (await reg.registry.audit.search({ digest: m.digest })).filter((e) => e.type === 'trust.violation');
    expect(v).toEqual([
      expect.objectContaining({ decision: 'allow', detail: expect.objectContaining({ mode: 'audit' }) }),
    ]);
    // Outside any policy: nothing checked, nothing flagged.
    await pushModel(reg.url, 'free/model', 'v1');
    expect((await get('/v2/free/model/manifests/v1')).headers.get('cairn-trust')).toBeNull();
  });

  it('in audit mode serves each case the enforce mode denies, flagged with what is missing', async () => {
    const cases: [string, (digest: string, size: number) => Promise<unknown>, string][] = [
      [
        'unsigned',
        async () => undefined,
        `a verified signature by key release; a verified ${SLSA} attestation by key release from builder https://ci.example/builders/*`,
      ],
      [
        'untrusted',
        async (d, size) =>
          attachBundle(
            reg.url,
            'audit/strict/untrusted',
            { digest: d, size },
            await signStatement(stranger, d, SIGN),
            SIGN,
          ),
        `a verified signature by key release; a verified ${SLSA}`,
      ],
      [
        'tampered',
        async (d, size) => {
          const b = await signStatement(release, d, SIGN);
          const t = JSON.parse(JSON.stringify(b));
          t.dsseEnvelope.payload = Buffer.from(
            JSON.stringify({
              _type: 'https://in-toto.io/Statement/v1',
              subject: [{ name: 'x', digest: { sha256: d.slice(7) } }],
              predicateType: SIGN,
              predicate: { x: 1 },
            }),
          ).toString('base64');
          return attachBundle(reg.url, 'audit/strict/tampered', { digest: d, size }, t, SIGN);
        },
        'a verified signature by key release',
      ],
      [
        'noprovenance',
        async (d, size) =>
          attachBundle(
            reg.url,
            'audit/strict/noprovenance',
            { digest: d, size },
            await signStatement(release, d, SIGN),
            SIGN,
          ),
        `a verified ${SLSA} attestation by key release from builder https://ci.example/builders/*`,
      ],
    ];
    for (const [name, sign, missing] of cases) {
      const repo = `audit/strict/${name}`;
      const m = await pushModel(reg.url, repo, 'v1');
      const size = Number(
        (await fetch(`${reg.url}/v2/${repo}/manifests/v1`, { method: 'HEAD' })).headers.get('content-length'),
      );
      await sign(m.digest, size);
      const r = await fetch(`${reg.url}/v2/${repo}/manifests/v1`);
      expect([name, r.status]).toEqual([name, 200]);
      expect(r.headers.get('cairn-trust')).toContain(`unsatisfied; ${missing}`);
      await reg.registry.audit.flush();
      const flagged = (await reg.registry.audit.search({ digest: m.digest })).filter(
        (e) => e.type === 'trust.violation',
      );
      expect([name, flagged.length, flagged[0]?.decision]).toEqual([name, 1, 'allow']);
    }
  });

  it('records a malformed bundle as unverified instead of refusing it', async () => {
    const m = await pushModel(reg.url, 'prod/broken', 'v1');
    const size = Number(
      (await fetch(`${reg.url}/v2/prod/broken/manifests/v1`, { method: 'HEAD' })).headers.get('content-length'),
    );
    const r = await attachBundle(
      reg.url,
      'prod/broken',
      { digest: m.digest, size },
      { mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json', garbage: true },
      SIGN,
    );
    expect(r.status).toBe(201);
    const report = (await get('/v2/prod/broken/_cairn/verify/v1')).body;
    expect(report.signatures[0]).toMatchObject({
      verified: false,
      why: expect.stringMatching(/not a Sigstore bundle/),
    });
  });
});
