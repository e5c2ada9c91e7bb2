import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { startTestRegistry, type TestRegistry } from '../helpers/server';
import { pushModel } from '../helpers/ml-artifacts';
import { startSigstoreMock, type SigstoreMock } from '../helpers/sigstore-mock';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
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
    await run(process.execPath, [bin, 'sign', '--fulcio-url', mock.fulcioUrl, '--rekor-url', mock.rekorUrl, '--timestamp-server-url', mock.tsaUrl, `${host}/${ref}`], {
      env: { ...process.env, CAIRN_CONFIG_DIR: dir, SIGSTORE_ID_TOKEN: mock.identityToken({ sub: identity, iss: ISSUER }) },
      timeout: 60_000,
    });
  };

  beforeAll(async () => {
    mock = await startSigstoreMock();
    dir = await mkdtemp(path.join(os.tmpdir(), 'cairn-keyless-'));
    await writeFile(path.join(dir, 'trusted_root.json'), JSON.stringify(mock.trustedRoot));
    await writeFile(path.join(dir, 'trust.yaml'), trust());
    reg = await startTestRegistry({ database: 'postgres', sessions: 'memory' }, { auth: { mode: 'none', policyDir: dir, policyReloadSeconds: 1 } });
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
    expect(report.signatures[0]).toMatchObject({ verified: true, accepted: true, signer: { subject: 'https://github.com/acme/vision/.github/workflows/release.yml@refs/heads/main', issuer: ISSUER } });
    expect(report.signatures[0].signedAt).toEqual(expect.any(String));

    const denied = await fetch(`${reg.url}/v2/keyless/bad/manifests/${bad.digest}`);
    expect(denied.status).toBe(403);
    const err = ((await denied.json()) as Json).errors[0];
    expect(err.detail.missing).toEqual([`a verified signature by https://github.com/acme/*/.github/workflows/release.yml@refs/heads/* from ${ISSUER}`]);
    // It did verify; the policy does not accept its signer.
    const badReport = (await (await fetch(`${reg.url}/v2/keyless/bad/_cairn/verify/v1`)).json()) as Json;
    expect(badReport.signatures[0]).toMatchObject({ verified: true, signer: { subject: 'https://github.com/evil/fork/.github/workflows/release.yml@refs/heads/main' } });

    await writeFile(path.join(dir, 'trust.yaml'), trust(`revoked:\n  identities: [{ issuer: "${ISSUER}", subject: "https://github.com/acme/vision/*" }]`));
    await new Promise((r) => setTimeout(r, 1300));
    expect((await fetch(`${reg.url}/v2/keyless/good/manifests/${good.digest}`)).status).toBe(403);
  });
});
