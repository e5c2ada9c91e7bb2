import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { bundleFromJSON } from '@sigstore/bundle';
import { PublicKeyDetails, TrustedRoot } from '@sigstore/protobuf-specs';
import { toSignedEntity, toTrustMaterial, Verifier } from '@sigstore/verify';
import { addUser, startAuthRegistry, token } from '../helpers/auth';
import { cairn, cleanEnv } from '../helpers/cli-transfer';
import type { TestRegistry } from '../helpers/server';
import { startSigstoreMock, type SigstoreMock } from '../helpers/sigstore-mock';
import { RegistryClient } from '../../src/client/registry-client';
import { bundleReferrerManifest, EMPTY_CONFIG } from '../../src/client/signing/referrer-manifest';
import { pushReferrer } from '../../src/client/signing/registry-ops';

const USER = 'sam';
const PASSWORD = 'sam-password-1234';
const BUNDLE_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
const EMPTY_DIGEST = 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a';
const SLSA_V1 = 'https://slsa.dev/provenance/v1';
const EMPTY_ROOT = TrustedRoot.fromJSON({
  mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
  tlogs: [],
  certificateAuthorities: [],
  ctlogs: [],
  timestampAuthorities: [],
});

const spkiDer = (k: KeyObject) => k.export({ format: 'der', type: 'spki' });
const cosignHint = (k: KeyObject) => createHash('sha256').update(spkiDer(k)).digest('base64');

/** Verifies a key-signed bundle with @sigstore/verify alone (no Cairn code), as signing.md describes. */
function verifyWithSigstore(bundleJson: unknown, pub: KeyObject, details: PublicKeyDetails): void {
  const bundle = bundleFromJSON(bundleJson);
  const hint = cosignHint(pub);
  const tm = toTrustMaterial(EMPTY_ROOT, {
    [hint]: { rawBytes: spkiDer(pub), keyDetails: details, validFor: { start: new Date(0) } },
  });
  new Verifier(tm, { tlogThreshold: 0, ctlogThreshold: 0, timestampThreshold: 0 }).verify(toSignedEntity(bundle));
}

describe('cairn sign / attest / verify (Sigstore bundles as OCI referrers)', () => {
  let reg: TestRegistry;
  let host: string;
  let tmp: string;
  let env: NodeJS.ProcessEnv;
  let mock: SigstoreMock;
  const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const ed = generateKeyPairSync('ed25519');
  const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });

  async function auth(repo: string, actions = 'pull'): Promise<Record<string, string>> {
    return { Authorization: `Bearer ${await token(reg.url, USER, PASSWORD, [`repository:${repo}:${actions}`])}` };
  }
  async function getJson(
    repo: string,
    p: string,
    accept?: string,
  ): Promise<{ status: number; body: any; digest: string | null; size: number }> {
    const r = await fetch(`${reg.url}/v2/${repo}/${p}`, {
      headers: { ...(await auth(repo)), ...(accept ? { Accept: accept } : {}) },
    });
    const bytes = Buffer.from(await r.arrayBuffer());
    return {
      status: r.status,
      body: r.status === 200 ? JSON.parse(bytes.toString()) : bytes.toString(),
      digest: r.headers.get('docker-content-digest'),
      size: bytes.length,
    };
  }
  async function pushModel(repo: string, tag: string): Promise<string> {
    const dir = path.join(tmp, `model-${repo.replace(/\W/g, '-')}-${tag}`);
    await mkdir(dir, { recursive: true });
    await writeFile(path.join(dir, 'model.safetensors'), Buffer.from(`weights of ${repo}:${tag}`));
    await writeFile(path.join(dir, 'config.json'), '{"hidden_size":8}');
    const r = await cairn(['push', 'model', dir, `${host}/${repo}:${tag}`, '-q'], env);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    return r.stdout.trim().split('\n').pop()!.split('@')[1]!;
  }
  const referrerOf = (stdout: string) => stdout.trim().split('@')[1]!;

  beforeAll(async () => {
    reg = await startAuthRegistry();
    host = new URL(reg.url).host;
    await addUser(reg, USER, PASSWORD, [], [['publisher', 'ml/']]);
    mock = await startSigstoreMock();
  });
  afterAll(async () => {
    await mock?.close();
    await reg?.close();
  });
  beforeEach(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'cairn-signing-'));
    env = cleanEnv({ CAIRN_CONFIG_DIR: path.join(tmp, 'config'), CAIRN_USERNAME: USER, CAIRN_PASSWORD: PASSWORD });
    await writeFile(path.join(tmp, 'p256.pem'), p256.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    await writeFile(path.join(tmp, 'p256.pub'), p256.publicKey.export({ type: 'spki', format: 'pem' }));
    await writeFile(path.join(tmp, 'ed.pub'), ed.publicKey.export({ type: 'spki', format: 'pem' }));
    await writeFile(path.join(tmp, 'other.pub'), other.publicKey.export({ type: 'spki', format: 'pem' }));
  });
  afterEach(async () => rm(tmp, { recursive: true, force: true }));

  it('signs with a P-256 key file and an Ed25519 key from env://, stores cosign’s manifest shape, and both verify', async () => {
    const digest = await pushModel('ml/signed', 'v1');
    const subject = await getJson('ml/signed', `manifests/${digest}`, 'application/vnd.oci.image.manifest.v1+json');

    // The tag is resolved; the digest is what gets signed.
    const signed = await cairn(['sign', '--key', path.join(tmp, 'p256.pem'), `${host}/ml/signed:v1`], env);
    expect(signed.stderr).toContain(`signed ml/signed@${digest}`);
    expect(signed.code).toBe(0);
    const referrer = referrerOf(signed.stdout);

    // Exactly cosign v3's referrer manifest.
    const stored = await getJson('ml/signed', `manifests/${referrer}`, 'application/vnd.oci.image.manifest.v1+json');
    expect(stored.status).toBe(200);
    expect(stored.digest).toBe(referrer);
    const m = stored.body;
    expect(Object.keys(m).sort()).toEqual([
      'annotations',
      'artifactType',
      'config',
      'layers',
      'mediaType',
      'schemaVersion',
      'subject',
    ]);
    expect(m.schemaVersion).toBe(2);
    expect(m.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
    expect(m.artifactType).toBe(BUNDLE_TYPE);
    expect(m.config).toEqual({ mediaType: 'application/vnd.oci.empty.v1+json', size: 2, digest: EMPTY_DIGEST });
    expect(m.layers).toEqual([
      { mediaType: BUNDLE_TYPE, size: expect.any(Number), digest: expect.stringMatching(/^sha256:[a-f0-9]{64}$/) },
    ]);
    expect(m.annotations).toEqual({
      'org.opencontainers.image.created': expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
      'dev.sigstore.bundle.content': 'dsse-envelope',
      'dev.sigstore.bundle.predicateType': 'https://sigstore.dev/cosign/sign/v1',
    });
    expect(m.subject).toEqual({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest, size: subject.size });
    const config = await fetch(`${reg.url}/v2/ml/signed/blobs/${EMPTY_DIGEST}`, { headers: await auth('ml/signed') });
    expect(await config.text()).toBe('{}');

    // The referrers API lists it with its artifactType, also when filtered by it.
    // Only the Sigstore bundles: the registry may attach referrers of its own (receipts).
    const bundlesOf = (index: any) => index.manifests.filter((d: any) => d.artifactType === BUNDLE_TYPE);
    const all = await getJson('ml/signed', `referrers/${digest}`);
    expect(bundlesOf(all.body)).toEqual([
      expect.objectContaining({
        digest: referrer,
        artifactType: BUNDLE_TYPE,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
      }),
    ]);
    const filtered = await getJson('ml/signed', `referrers/${digest}?artifactType=${encodeURIComponent(BUNDLE_TYPE)}`);
    expect(filtered.body.manifests.map((d: any) => d.digest)).toEqual([referrer]);
    const none = await getJson(
      'ml/signed',
      `referrers/${digest}?artifactType=${encodeURIComponent('application/vnd.example.other')}`,
    );
    expect(none.body.manifests).toEqual([]);

    // The bundle verifies with @sigstore/verify alone, carries cosign's key hint and a statement about the digest.
    const bundleRes = await fetch(`${reg.url}/v2/ml/signed/blobs/${m.layers[0].digest}`, {
      headers: await auth('ml/signed'),
    });
    const bundleJson: any = await bundleRes.json();
    expect(bundleJson.mediaType).toBe(BUNDLE_TYPE);
    expect(bundleJson.verificationMaterial.publicKey.hint).toBe(cosignHint(p256.publicKey));
    expect(bundleJson.dsseEnvelope.payloadType).toBe('application/vnd.in-toto+json');
    expect(JSON.parse(Buffer.from(bundleJson.dsseEnvelope.payload, 'base64').toString())).toEqual({
      _type: 'https://in-toto.io/Statement/v1',
      subject: [{ name: 'ml/signed', digest: { sha256: digest.slice('sha256:'.length) } }],
      predicateType: 'https://sigstore.dev/cosign/sign/v1',
      predicate: {},
    });
    expect(() =>
      verifyWithSigstore(bundleJson, p256.publicKey, PublicKeyDetails.PKIX_ECDSA_P256_SHA_256),
    ).not.toThrow();
    expect(() => verifyWithSigstore(bundleJson, other.publicKey, PublicKeyDetails.PKIX_ECDSA_P256_SHA_256)).toThrow();

    const verified = await cairn(['verify', '--key', path.join(tmp, 'p256.pub'), `${host}/ml/signed:v1`], env);
    expect(verified.code).toBe(0);
    expect(verified.stdout).toContain(
      `Verified ml/signed@${digest}: https://sigstore.dev/cosign/sign/v1 signed by key p256.pub`,
    );
    expect(verified.stdout).toContain(referrer);

    // Ed25519, the PEM text in an environment variable (cosign's env://).
    const edEnv = { ...env, SIGNING_KEY: ed.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
    const edSigned = await cairn(['sign', '--key', 'env://SIGNING_KEY', `${host}/ml/signed@${digest}`], edEnv);
    expect(edSigned.stderr).not.toContain('PRIVATE KEY');
    expect(edSigned.code).toBe(0);
    const edReferrer = referrerOf(edSigned.stdout);
    const edManifest = (
      await getJson('ml/signed', `manifests/${edReferrer}`, 'application/vnd.oci.image.manifest.v1+json')
    ).body;
    const edBundle = await (
      await fetch(`${reg.url}/v2/ml/signed/blobs/${edManifest.layers[0].digest}`, { headers: await auth('ml/signed') })
    ).json();
    expect(() => verifyWithSigstore(edBundle, ed.publicKey, PublicKeyDetails.PKIX_ED25519)).not.toThrow();
    expect(
      bundlesOf((await getJson('ml/signed', `referrers/${digest}`)).body)
        .map((d: any) => d.digest)
        .sort(),
    ).toEqual([referrer, edReferrer].sort());

    // Each key verifies its own signature; the other one is reported as not trusted, and exit is still 0.
    const edVerified = await cairn(['verify', '--key', path.join(tmp, 'ed.pub'), `${host}/ml/signed:v1`], env);
    expect(edVerified.code).toBe(0);
    expect(edVerified.stdout.trim().split('\n')).toEqual([expect.stringContaining(`signed by key ed.pub`)]);
    expect(edVerified.stderr).toContain(`not verified: ${referrer}: signed by a key that is not trusted`);
    const both = await cairn(
      [
        'verify',
        '--key',
        path.join(tmp, 'p256.pub'),
        '--key',
        path.join(tmp, 'ed.pub'),
        '--output',
        'json',
        `${host}/ml/signed:v1`,
      ],
      env,
    );
    expect(both.code).toBe(0);
    const report = JSON.parse(both.stdout);
    expect(report).toMatchObject({ repository: 'ml/signed', digest, checked: 2, verifiedCount: 2 });
  });

  it('attests SLSA provenance (cosign --type slsaprovenance1) and verifies it by predicate type', async () => {
    const digest = await pushModel('ml/attested', 'v1');
    const provenance = {
      buildDefinition: { buildType: 'https://example.com/train/v1', externalParameters: { epochs: 3 } },
      runDetails: { builder: { id: 'https://ci.example.com/runner' } },
    };
    await writeFile(path.join(tmp, 'slsa.json'), JSON.stringify(provenance));
    const attested = await cairn(
      [
        'attest',
        '--key',
        path.join(tmp, 'p256.pem'),
        '--predicate',
        path.join(tmp, 'slsa.json'),
        '--type',
        'slsaprovenance1',
        `${host}/ml/attested:v1`,
      ],
      env,
    );
    expect(attested.code).toBe(0);
    const referrer = referrerOf(attested.stdout);
    const m = (await getJson('ml/attested', `manifests/${referrer}`, 'application/vnd.oci.image.manifest.v1+json'))
      .body;
    expect(m.annotations['dev.sigstore.bundle.predicateType']).toBe(SLSA_V1);
    expect(m.subject.digest).toBe(digest);
    // A plain signature beside it, to see the --type filter at work.
    expect((await cairn(['sign', '--key', path.join(tmp, 'p256.pem'), `${host}/ml/attested:v1`], env)).code).toBe(0);

    const v = await cairn(
      ['verify', '--key', path.join(tmp, 'p256.pub'), '--type', SLSA_V1, '--output', 'json', `${host}/ml/attested:v1`],
      env,
    );
    expect(v.code).toBe(0);
    const report = JSON.parse(v.stdout);
    expect(report).toMatchObject({ digest, checked: 1, verifiedCount: 1 });
    expect(report.signatures[0]).toMatchObject({
      referrer,
      verified: true,
      predicateType: SLSA_V1,
      statement: {
        predicateType: SLSA_V1,
        predicate: provenance,
        subject: [{ name: 'ml/attested', digest: { sha256: digest.slice(7) } }],
      },
    });
    const text = await cairn(
      ['verify', '--key', path.join(tmp, 'p256.pub'), '--type', 'slsaprovenance1', `${host}/ml/attested:v1`],
      env,
    );
    expect(text.code).toBe(0);
    expect(text.stdout.trim().split('\n')).toEqual([expect.stringContaining(`${SLSA_V1} signed by key p256.pub`)]);

    const absent = await cairn(
      ['verify', '--key', path.join(tmp, 'p256.pub'), '--type', 'cyclonedx', `${host}/ml/attested:v1`],
      env,
    );
    expect(absent.code).toBe(1);
    expect(absent.stderr).toContain('no matching Sigstore bundle');
  });

  it('signs keyless through a private Fulcio / Rekor / TSA and verifies the identity against its trusted root', async () => {
    const digest = await pushModel('ml/keyless', 'v1');
    const rootFile = path.join(tmp, 'trusted_root.json');
    await writeFile(rootFile, JSON.stringify(mock.trustedRoot));
    const identity = 'https://github.com/acme/vision/.github/workflows/release.yml@refs/heads/main';
    const issuer = 'https://token.actions.githubusercontent.com';
    const idToken = mock.identityToken({ sub: identity, iss: issuer });

    const signed = await cairn(
      [
        'sign',
        '--fulcio-url',
        mock.fulcioUrl,
        '--rekor-url',
        mock.rekorUrl,
        '--timestamp-server-url',
        mock.tsaUrl,
        `${host}/ml/keyless:v1`,
      ],
      { ...env, SIGSTORE_ID_TOKEN: idToken },
    );
    expect(signed.stderr).toContain('keyless');
    expect(signed.code).toBe(0);
    const referrer = referrerOf(signed.stdout);
    const m = (await getJson('ml/keyless', `manifests/${referrer}`, 'application/vnd.oci.image.manifest.v1+json')).body;
    const bundle: any = await (
      await fetch(`${reg.url}/v2/ml/keyless/blobs/${m.layers[0].digest}`, { headers: await auth('ml/keyless') })
    ).json();
    expect(bundle.verificationMaterial.certificate).toBeDefined();
    expect(bundle.verificationMaterial.tlogEntries).toHaveLength(1);
    expect(bundle.verificationMaterial.tlogEntries[0].kindVersion).toEqual({ kind: 'dsse', version: '0.0.1' });
    expect(bundle.verificationMaterial.timestampVerificationData.rfc3161Timestamps).toHaveLength(1);

    const keylessFlags = ['--trusted-root', rootFile, '--certificate-oidc-issuer', issuer];
    const ok = await cairn(
      ['verify', ...keylessFlags, '--certificate-identity', identity, `${host}/ml/keyless:v1`],
      env,
    );
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain(
      `Verified ml/keyless@${digest}: https://sigstore.dev/cosign/sign/v1 signed by ${identity} (issuer ${issuer})`,
    );
    const re = await cairn(
      [
        'verify',
        '--trusted-root',
        rootFile,
        '--certificate-identity-regexp',
        'https://github\\.com/acme/.*',
        '--certificate-oidc-issuer-regexp',
        '.*actions.*',
        `${host}/ml/keyless:v1`,
      ],
      env,
    );
    expect(re.code).toBe(0);

    const wrongWho = await cairn(
      [
        'verify',
        ...keylessFlags,
        '--certificate-identity',
        'https://github.com/evil/fork/.github/workflows/release.yml@refs/heads/main',
        `${host}/ml/keyless:v1`,
      ],
      env,
    );
    expect(wrongWho.code).toBe(1);
    expect(wrongWho.stdout).toBe('');
    expect(wrongWho.stderr).toContain(
      `not verified: ${referrer}: signed by ${identity}, not https://github.com/evil/fork`,
    );
    const wrongIssuer = await cairn(
      [
        'verify',
        '--trusted-root',
        rootFile,
        '--certificate-identity',
        identity,
        '--certificate-oidc-issuer',
        'https://accounts.google.com',
        `${host}/ml/keyless:v1`,
      ],
      env,
    );
    expect(wrongIssuer.code).toBe(1);
    expect(wrongIssuer.stderr).toContain(`issued by ${issuer}, not https://accounts.google.com`);
    // Without the identity flags, cosign refuses to verify a keyless signature at all.
    const noIdentity = await cairn(['verify', '--trusted-root', rootFile, `${host}/ml/keyless:v1`], env);
    expect(noIdentity.code).toBe(1);
    expect(noIdentity.stderr).toContain('--certificate-identity');
    // A key cannot vouch for a keyless signature.
    const byKey = await cairn(['verify', '--key', path.join(tmp, 'p256.pub'), `${host}/ml/keyless:v1`], env);
    expect(byKey.code).toBe(1);
    expect(byKey.stderr).toContain('no Sigstore trusted root is configured');
    // Keyless without a token says how to give one.
    const noToken = await cairn(
      ['sign', '--fulcio-url', mock.fulcioUrl, '--rekor-url', mock.rekorUrl, `${host}/ml/keyless:v1`],
      env,
    );
    expect(noToken.code).toBe(1);
    expect(noToken.stderr).toContain('SIGSTORE_ID_TOKEN');
  });

  it('refuses bad input and reports a tampered bundle as not verified', async () => {
    const digest = await pushModel('ml/bad', 'v1');
    const key = path.join(tmp, 'p256.pem');

    const missingTag = await cairn(['sign', '--key', key, `${host}/ml/bad:nope`], env);
    expect(missingTag.code).toBe(1);
    expect(missingTag.stderr).toContain(`${host}/ml/bad:nope does not exist`);

    await writeFile(
      path.join(tmp, 'encrypted.pem'),
      p256.privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'secret' }),
    );
    const encrypted = await cairn(['sign', '--key', path.join(tmp, 'encrypted.pem'), `${host}/ml/bad:v1`], env);
    expect(encrypted.code).toBe(1);
    expect(encrypted.stderr).toContain('the private key is encrypted');
    await writeFile(path.join(tmp, 'garbage.pem'), 'not a key at all\n');
    const garbage = await cairn(['sign', '--key', path.join(tmp, 'garbage.pem'), `${host}/ml/bad:v1`], env);
    expect(garbage.code).toBe(1);
    expect(garbage.stderr).toContain('not a PEM private key');
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
    await writeFile(path.join(tmp, 'p384.pem'), p384.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    const badCurve = await cairn(['sign', '--key', path.join(tmp, 'p384.pem'), `${host}/ml/bad:v1`], env);
    expect(badCurve.code).toBe(1);
    expect(badCurve.stderr).toContain('secp384r1');
    const noVar = await cairn(['sign', '--key', 'env://NO_SUCH_VARIABLE', `${host}/ml/bad:v1`], env);
    expect(noVar.code).toBe(1);
    expect(noVar.stderr).toContain('NO_SUCH_VARIABLE is not set');
    // Nothing was attached by any of these (the registry's own receipts aside).
    expect(
      (await getJson('ml/bad', `referrers/${digest}`)).body.manifests.filter(
        (d: any) => d.artifactType === BUNDLE_TYPE,
      ),
    ).toEqual([]);

    // Unsigned: nothing to verify.
    const unsigned = await cairn(['verify', '--key', path.join(tmp, 'p256.pub'), `${host}/ml/bad:v1`], env);
    expect(unsigned.code).toBe(1);
    expect(unsigned.stderr).toContain('no matching Sigstore bundle');

    // A tampered copy of a good bundle (the predicate changed, the signature kept), pushed as another referrer.
    const good = referrerOf((await cairn(['sign', '--key', key, `${host}/ml/bad:v1`], env)).stdout);
    const goodManifest = (await getJson('ml/bad', `manifests/${good}`, 'application/vnd.oci.image.manifest.v1+json'))
      .body;
    const bundle: any = await (
      await fetch(`${reg.url}/v2/ml/bad/blobs/${goodManifest.layers[0].digest}`, { headers: await auth('ml/bad') })
    ).json();
    const statement = JSON.parse(Buffer.from(bundle.dsseEnvelope.payload, 'base64').toString());
    statement.predicate = { approved: true };
    bundle.dsseEnvelope.payload = Buffer.from(JSON.stringify(statement)).toString('base64');
    const tamperedJson = Buffer.from(JSON.stringify(bundle));
    const tampered = bundleReferrerManifest(tamperedJson, goodManifest.subject, 'https://sigstore.dev/cosign/sign/v1');
    const client = new RegistryClient({ baseUrl: reg.url, credentials: { username: USER, password: PASSWORD } });
    try {
      await pushReferrer(client, 'ml/bad', tampered, tamperedJson, EMPTY_CONFIG, env);
    } finally {
      client.close();
    }
    const report = await cairn(
      ['verify', '--key', path.join(tmp, 'p256.pub'), '--output', 'json', `${host}/ml/bad:v1`],
      env,
    );
    expect(report.code).toBe(0);
    const r = JSON.parse(report.stdout);
    expect(r).toMatchObject({ checked: 2, verifiedCount: 1 });
    expect(r.signatures.find((s: any) => s.referrer === tampered.digest)).toMatchObject({
      verified: false,
      reason: expect.stringContaining('the signature does not verify'),
    });
    expect(report.stderr).toContain(`not verified: ${tampered.digest}: the signature does not verify`);

    // The wrong public key: nothing verifies, exit 1, each failure said.
    const wrongKey = await cairn(['verify', '--key', path.join(tmp, 'other.pub'), `${host}/ml/bad:v1`], env);
    expect(wrongKey.code).toBe(1);
    expect(wrongKey.stdout).toBe('');
    expect(wrongKey.stderr).toContain(`not verified: ${good}: signed by a key that is not trusted`);
    expect(wrongKey.stderr).toContain('2 bundle(s) checked, none verified');
  });
});
