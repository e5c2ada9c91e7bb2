import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { startTestRegistry, type TestRegistry } from '../helpers/server';
import { pushModel } from '../helpers/ml-artifacts';
import { startSigstoreMock, type SigstoreMock } from '../helpers/sigstore-mock';
import { startTufRepo, type TufRepo } from '../helpers/tuf-repo';

type Json = Record<string, any>;
const bin = path.join(__dirname, '..', '..', 'bin', 'cairn.js');
const run = promisify(execFile);
const ISSUER = 'https://token.actions.githubusercontent.com';
const RELEASE = 'https://github.com/acme/vision/.github/workflows/release.yml@refs/heads/main';

async function until(what: string, probe: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

describe('Sigstore trusted roots fetched through TUF from a private mirror, and refreshed', () => {
  let reg: TestRegistry;
  let sigA: SigstoreMock;
  let sigB: SigstoreMock;
  let tuf: TufRepo;
  let dir: string;

  const signWith = async (mock: SigstoreMock, registryUrl: string, ref: string) => {
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
        `${new URL(registryUrl).host}/${ref}`,
      ],
      {
        env: {
          ...process.env,
          CAIRN_CONFIG_DIR: dir,
          SIGSTORE_ID_TOKEN: mock.identityToken({ sub: RELEASE, iss: ISSUER }),
        },
        timeout: 60_000,
      },
    );
  };
  const status = async (url: string, ref: string) => (await fetch(`${url}/v2/tuf/model/manifests/${ref}`)).status;
  const report = async (url: string, ref: string) =>
    (await (await fetch(`${url}/v2/tuf/model/_cairn/verify/${ref}`)).json()) as Json;
  const events = async (r: TestRegistry, type: string) => {
    await r.registry.audit.flush();
    return (await r.registry.audit.search({ limit: 10_000 })).filter((e) => e.type === type);
  };

  beforeAll(async () => {
    [sigA, sigB] = await Promise.all([startSigstoreMock(), startSigstoreMock()]);
    tuf = await startTufRepo(sigA.trustedRoot);
    dir = await mkdtemp(path.join(os.tmpdir(), 'cairn-tuf-'));
    await tuf.writeRoot(path.join(dir, 'tuf-root.json'));
    // No trustedRoots file: the only Sigstore root the registry has is the one TUF gives it.
    await writeFile(
      path.join(dir, 'trust.yaml'),
      `
tuf:
  - mirror: ${tuf.url}
    root: tuf-root.json
    refreshSeconds: 2
policies:
  - repositories: ["tuf/**"]
    mode: enforce
    signers:
      - issuer: ${ISSUER}
        subject: "https://github.com/acme/*"
`,
    );
    reg = await startTestRegistry(
      { database: 'sqlite', sessions: 'memory' },
      { auth: { mode: 'none', policyDir: dir, policyReloadSeconds: 1 } },
    );
  });
  afterAll(async () => {
    await reg?.close();
    await Promise.all([sigA?.close(), sigB?.close(), tuf?.down()]);
    await rm(dir, { recursive: true, force: true });
  });

  it('verifies keyless signatures against the root its mirror gave, and follows the mirror when it publishes another', async () => {
    const m = await pushModel(reg.url, 'tuf/model', 'v1');
    await signWith(sigA, reg.url, 'tuf/model:v1');
    expect(await status(reg.url, 'v1')).toBe(200);
    expect((await report(reg.url, 'v1')).signatures[0]).toMatchObject({
      verified: true,
      accepted: true,
      signer: { subject: RELEASE, issuer: ISSUER },
    });
    const first = await events(reg, 'trust.root');
    expect(first).toEqual([
      expect.objectContaining({ identity: 'system', detail: expect.objectContaining({ mirror: tuf.url }) }),
    ]);
    const metrics = await (await fetch(`${reg.url}/metrics`)).text();
    expect(metrics).toMatch(new RegExp(`cairn_trust_root_fetched_timestamp_seconds\\{mirror="${tuf.url}"\\} \\d`));

    // The private Sigstore moves to new Fulcio / Rekor / TSA keys: what the old ones certified no longer verifies.
    tuf.publish(sigB.trustedRoot);
    await until(
      'the new root to be refreshed and the signature re-checked',
      async () => (await status(reg.url, m.digest)) === 403,
    );
    const denied = ((await (await fetch(`${reg.url}/v2/tuf/model/manifests/v1`)).json()) as Json).errors[0];
    expect(denied.code).toBe('DENIED');
    expect((await report(reg.url, 'v1')).signatures[0]).toMatchObject({ verified: false, accepted: false });
    expect(await events(reg, 'trust.root')).toHaveLength(2);
    expect(await events(reg, 'signature.recheck')).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          repository: 'tuf/model',
          decision: 'deny',
          detail: expect.objectContaining({ subject: m.digest, wasAccepted: true, accepted: false }),
        }),
      ]),
    );

    await signWith(sigB, reg.url, 'tuf/model:v1');
    expect(await status(reg.url, 'v1')).toBe(200);
  });

  it('refuses a trusted root that does not match the signed TUF metadata, keeping the one in force', async () => {
    const failures = async () =>
      Number(
        (await (await fetch(`${reg.url}/metrics`)).text()).match(
          /cairn_trust_root_fetch_failures_total\{mirror="[^"]+"\} (\d+)/,
        )?.[1] ?? 0,
      );
    const fetchedAt = async () =>
      Number(
        (await (await fetch(`${reg.url}/metrics`)).text()).match(
          /cairn_trust_root_fetched_timestamp_seconds\{mirror="[^"]+"\} ([\d.e+]+)/,
        )?.[1] ?? 0,
      );
    const before = await failures();
    // The repository publishes the same root in other bytes; a compromised mirror serves sigA's root
    // in its place, which the signed targets metadata does not name.
    tuf.forgeTarget(Buffer.from(JSON.stringify(sigA.trustedRoot)));
    tuf.publish(JSON.stringify(sigB.trustedRoot, null, 1));
    await until('a failed refresh', async () => (await failures()) > before);
    expect(await status(reg.url, 'v1')).toBe(200);
    expect((await report(reg.url, 'v1')).signatures.some((s: Json) => s.accepted)).toBe(true);

    tuf.forgeTarget(undefined);
    const cleared = Date.now() / 1000;
    await until('a good refresh', async () => (await fetchedAt()) > cleared);
    // The same root in other bytes is not a new root: no event, nothing re-checked.
    expect(await events(reg, 'trust.root')).toHaveLength(2);
    expect(await status(reg.url, 'v1')).toBe(200);
  });

  it('starts from the verified cache while its mirror is down, and says why keyless signatures fail when it has none', async () => {
    await tuf.down();
    reg = await reg.restart();
    expect(await status(reg.url, 'v1')).toBe(200);
    const signedBefore = (await report(reg.url, 'v1')).signatures.find((s: Json) => s.accepted);
    expect(signedBefore).toMatchObject({ verified: true, signer: { subject: RELEASE } });

    const fresh = await startTestRegistry(
      { database: 'sqlite', sessions: 'memory' },
      { auth: { mode: 'none', policyDir: dir, policyReloadSeconds: 1 } },
    );
    try {
      await pushModel(fresh.url, 'tuf/model', 'v1');
      await signWith(sigB, fresh.url, 'tuf/model:v1');
      expect(await status(fresh.url, 'v1')).toBe(403);
      const sig = (await report(fresh.url, 'v1')).signatures[0];
      expect(sig.verified).toBe(false);
      expect(sig.why).toContain(`no trusted root from the TUF mirror ${tuf.url} yet`);
      // Once the mirror answers again, the root arrives and the stored signature is re-checked.
      await tuf.up();
      await until(
        'the root to arrive after the mirror came back',
        async () => (await status(fresh.url, 'v1')) === 200,
        60_000,
      );
    } finally {
      await fresh.close();
    }
  });
});
