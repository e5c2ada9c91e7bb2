import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { startTestRegistry, type TestRegistry } from '../helpers/server';
import { pushModel } from '../helpers/ml-artifacts';
import { putLegacySignature } from '../helpers/sign-bundle';
import { cosignV2Keyless } from '../helpers/cosign-v2-keyless';
import { startSigstoreMock, type SigstoreMock } from '../helpers/sigstore-mock';

type Json = Record<string, any>;
const bin = path.join(__dirname, '..', '..', 'bin', 'cairn.js');
const run = promisify(execFile);
const ISSUER = 'https://token.actions.githubusercontent.com';

describe('keyless signatures under a trust policy: the identity of a private Sigstore, enforced by the registry', () => {
  let reg: TestRegistry;
  let mock: SigstoreMock;
  let dir: string;
  const trust = (revoked = '') => `
trustedRoots: [trusted_root.json]
policies:
  - repositories: ["keyless/**"]
    mode: enforce
    signers:
      - issuer: ${ISSUER}
        subject: "https://github.com/acme/*/.github/workflows/release.yml@refs/heads/*"
${revoked}`;
  const signAs = async (identity: string, ref: string) => {
    const host = new URL(reg.url).host;
    await run(
      process.execPath,
      [
        bin,
        'sign',
        '--fulcio-url',
        mock.fulcioUrl,
        '--rekor-url',
        mock.rekorUrl,
        '--timestamp-server-url',
        mock.tsaUrl,
        `${host}/${ref}`,
      ],
      {
        env: {
          ...process.env,
          CAIRN_CONFIG_DIR: dir,
          SIGSTORE_ID_TOKEN: mock.identityToken({ sub: identity, iss: ISSUER }),
        },
        timeout: 60_000,
      },
    );
  };

  beforeAll(async () => {
    mock = await startSigstoreMock();
    dir = await mkdtemp(path.join(os.tmpdir(), 'cairn-keyless-'));
    await writeFile(path.join(dir, 'trusted_root.json'), JSON.stringify(mock.trustedRoot));
    await writeFile(path.join(dir, 'trust.yaml'), trust());
    reg = await startTestRegistry(
      { database: 'postgres', sessions: 'memory' },
      { auth: { mode: 'none', policyDir: dir, policyReloadSeconds: 1 } },
    );
  });
  afterAll(async () => {
    await reg?.close();
    await mock?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('serves what the release workflow signed, denies what another identity signed, and follows a revoked identity', async () => {
    const good = await pushModel(reg.url, 'keyless/good', 'v1');
    const bad = await pushModel(reg.url, 'keyless/bad', 'v1');
    expect((await fetch(`${reg.url}/v2/keyless/good/manifests/v1`)).status).toBe(403);
    await signAs('https://github.com/acme/vision/.github/workflows/release.yml@refs/heads/main', 'keyless/good:v1');
    await signAs('https://github.com/evil/fork/.github/workflows/release.yml@refs/heads/main', 'keyless/bad:v1');

    expect((await fetch(`${reg.url}/v2/keyless/good/manifests/v1`)).status).toBe(200);
    const report = (await (await fetch(`${reg.url}/v2/keyless/good/_cairn/verify/v1`)).json()) as Json;
    expect(report.signatures[0]).toMatchObject({
      verified: true,
      accepted: true,
      signer: {
        subject: 'https://github.com/acme/vision/.github/workflows/release.yml@refs/heads/main',
        issuer: ISSUER,
      },
    });
    expect(report.signatures[0].signedAt).toEqual(expect.any(String));

    const denied = await fetch(`${reg.url}/v2/keyless/bad/manifests/${bad.digest}`);
    expect(denied.status).toBe(403);
    const err = ((await denied.json()) as Json).errors[0];
    expect(err.detail.missing).toEqual([
      `a verified signature by https://github.com/acme/*/.github/workflows/release.yml@refs/heads/* from ${ISSUER}`,
    ]);
    // It did verify; the policy does not accept its signer.
    const badReport = (await (await fetch(`${reg.url}/v2/keyless/bad/_cairn/verify/v1`)).json()) as Json;
    expect(badReport.signatures[0]).toMatchObject({
      verified: true,
      signer: { subject: 'https://github.com/evil/fork/.github/workflows/release.yml@refs/heads/main' },
    });

    await writeFile(
      path.join(dir, 'trust.yaml'),
      trust(`revoked:\n  identities: [{ issuer: "${ISSUER}", subject: "https://github.com/acme/vision/*" }]`),
    );
    await new Promise((r) => setTimeout(r, 1300));
    expect((await fetch(`${reg.url}/v2/keyless/good/manifests/${good.digest}`)).status).toBe(403);
  });
  it("verifies cosign v2's keyless tag scheme: a .sig with a Fulcio certificate and a Rekor entry, and a keyless .att", async () => {
    // The test before revoked the release workflow's identity; trust it again.
    await writeFile(path.join(dir, 'trust.yaml'), trust());
    await new Promise((r) => setTimeout(r, 1300));
    const m = await pushModel(reg.url, 'keyless/v2', 'v1');
    const hex = m.digest.slice(7);
    const put = async (tag: string, layer: Buffer, mediaType: string, annotations: Record<string, string>) => {
      const r = await putLegacySignature(reg.url, 'keyless/v2', tag, layer, mediaType, annotations);
      expect(r.status).toBe(201);
      return r.headers.get('docker-content-digest')!;
    };
    const report = async () => (await (await fetch(`${reg.url}/v2/keyless/v2/_cairn/verify/v1`)).json()) as Json;
    const byDigest = async (d: string) => (await report()).signatures.find((x: Json) => x.digest === d);
    const payload = Buffer.from(
      JSON.stringify({
        critical: {
          identity: { 'docker-reference': 'registry/keyless/v2' },
          image: { 'docker-manifest-digest': m.digest },
          type: 'cosign container image signature',
        },
        optional: null,
      }),
    );
    const SIMPLE = 'application/vnd.dev.cosign.simplesigning.v1+json';

    // An untrusted identity first: it verifies (the certificate chains to the trusted root) but is not accepted.
    const evil = await cosignV2Keyless(
      mock,
      { sub: 'https://github.com/evil/fork/.github/workflows/release.yml@refs/heads/main', iss: ISSUER },
      'sig',
      payload,
    );
    const evilDigest = await put(`sha256-${hex}.sig`, evil.bytes, SIMPLE, evil.annotations);
    expect(await byDigest(evilDigest)).toMatchObject({
      verified: true,
      signer: { subject: 'https://github.com/evil/fork/.github/workflows/release.yml@refs/heads/main', issuer: ISSUER },
    });
    expect((await fetch(`${reg.url}/v2/keyless/v2/manifests/v1`)).status).toBe(403);

    const good = await cosignV2Keyless(
      mock,
      { sub: 'https://github.com/acme/vision/.github/workflows/release.yml@refs/heads/main', iss: ISSUER },
      'sig',
      payload,
    );
    const goodDigest = await put(`sha256-${hex}.sig`, good.bytes, SIMPLE, good.annotations);
    expect(await byDigest(goodDigest)).toMatchObject({
      verified: true,
      accepted: true,
      signedAt: expect.any(String),
      signer: {
        subject: 'https://github.com/acme/vision/.github/workflows/release.yml@refs/heads/main',
        issuer: ISSUER,
      },
    });
    expect((await fetch(`${reg.url}/v2/keyless/v2/manifests/v1`)).status).toBe(200);

    // Tampering with any part is caught: the payload, the log's promise, the certificate.
    const altered = Buffer.from(
      payload.toString().replace('cosign container image signature', 'cosign container image signaturE'),
    );
    const cases: [string, Buffer, Record<string, string>, RegExp][] = [
      ['payload', altered, good.annotations, /does not verify/],
      [
        'promise',
        payload,
        {
          ...good.annotations,
          'dev.sigstore.cosign/bundle': good.annotations['dev.sigstore.cosign/bundle']!.replace(
            /"SignedEntryTimestamp":"[A-Za-z0-9+/]{8}/,
            '"SignedEntryTimestamp":"AAAAAAAA',
          ),
        },
        /does not verify/,
      ],
      [
        'certificate',
        payload,
        {
          ...good.annotations,
          'dev.sigstore.cosign/certificate': evil.annotations['dev.sigstore.cosign/certificate']!,
        },
        /does not verify/,
      ],
      ['no log entry', payload, { ...good.annotations, 'dev.sigstore.cosign/bundle': '' }, /no transparency-log entry/],
      [
        'garbage certificate',
        payload,
        {
          ...good.annotations,
          'dev.sigstore.cosign/certificate': '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n',
        },
        /certificate annotation does not parse/,
      ],
    ];
    for (const [what, bytes, annotations, why] of cases) {
      const d = await put(`sha256-${hex}.sig`, bytes, SIMPLE, annotations);
      const sig = await byDigest(d);
      expect([what, sig.verified, sig.why]).toEqual([what, false, expect.stringMatching(why)]);
    }

    // A keyless attestation (DSSE envelope, Rekor intoto entry).
    const statement = Buffer.from(
      JSON.stringify({
        _type: 'https://in-toto.io/Statement/v1',
        subject: [{ name: 'keyless/v2', digest: { sha256: hex } }],
        predicateType: 'https://slsa.dev/provenance/v1',
        predicate: {
          buildDefinition: { buildType: 'x' },
          runDetails: { builder: { id: 'https://github.com/acme/builder' } },
        },
      }),
    );
    const att = await cosignV2Keyless(
      mock,
      { sub: 'https://github.com/acme/vision/.github/workflows/release.yml@refs/heads/main', iss: ISSUER },
      'att',
      statement,
    );
    const attDigest = await put(`sha256-${hex}.att`, att.bytes, 'application/vnd.dsse.envelope.v1+json', {
      ...att.annotations,
      predicateType: 'https://slsa.dev/provenance/v1',
    });
    expect(await byDigest(attDigest)).toMatchObject({
      verified: true,
      predicateType: 'https://slsa.dev/provenance/v1',
      signer: { subject: 'https://github.com/acme/vision/.github/workflows/release.yml@refs/heads/main' },
    });
  });
});
