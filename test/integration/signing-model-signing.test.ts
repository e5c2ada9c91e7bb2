import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startTestRegistry, type TestRegistry } from '../helpers/server';
import { MODEL_CONFIG, modelConfig, pushArtifact } from '../helpers/ml-artifacts';
import { attachBundle, p256, signInTotoStatement } from '../helpers/sign-bundle';

type Json = Record<string, any>;
const MS = 'https://model_signing/signature/v1.0';
const MS_V01 = 'https://model_signing/Digests/v0.1';
const hex = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');

/** What sigstore/model-transparency signs for a directory: every file's digest, and a root over them. */
function modelSignature(files: Record<string, string>, opts: { root?: string } = {}) {
  const resources = Object.keys(files)
    .sort()
    .map((name) => ({ name, algorithm: 'sha256', digest: hex(files[name]!) }));
  const root = opts.root ?? hex(Buffer.concat(resources.map((r) => Buffer.from(r.digest, 'hex'))));
  return {
    _type: 'https://in-toto.io/Statement/v1',
    subject: [{ name: 'bert', digest: { sha256: root } }],
    predicateType: MS,
    predicate: {
      serialization: {
        method: 'files',
        hash_type: 'sha256',
        allow_symlinks: false,
        ignore_paths: ['model.sig', '.git'],
      },
      resources,
    },
  };
}

describe('OpenSSF model signatures, bound to an artifact by its files', () => {
  let reg: TestRegistry;
  let dir: string;
  const release = p256();
  const stranger = p256();
  const files = { 'weights/model.safetensors': 'the weights', 'config.json': '{"layers":12}', 'README.md': '# bert' };

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'cairn-model-signing-'));
    await writeFile(path.join(dir, 'release.pub'), release.pem);
    await writeFile(
      path.join(dir, 'trust.yaml'),
      `keys:\n  - name: release\n    publicKeyFile: release.pub\npolicies:\n  - repositories: ["signed/**"]\n    mode: enforce\n    attestations:\n      - predicateType: ${MS}\n        signers: [{ key: release }]\n`,
    );
    reg = await startTestRegistry(
      { database: 'sqlite', sessions: 'memory' },
      { auth: { mode: 'none', policyDir: dir, policyReloadSeconds: 1 } },
    );
  });
  afterAll(async () => {
    await reg?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const push = async (repo: string, fileSet: Record<string, string>) => {
    const m = await pushArtifact(reg.url, repo, 'v1', {
      artifactType: 'application/vnd.cncf.model.manifest.v1+json',
      configMediaType: MODEL_CONFIG,
      config: modelConfig(repo),
      files: fileSet,
    });
    expect(m.status).toBe(201);
    const size = Number(
      (await fetch(`${reg.url}/v2/${repo}/manifests/v1`, { method: 'HEAD' })).headers.get('content-length'),
    );
    return { digest: m.digest, size };
  };
  const attach = async (
    repo: string,
    subject: { digest: string; size: number },
    key: typeof release,
    statement: object,
  ) => {
    const r = await attachBundle(reg.url, repo, subject, await signInTotoStatement(key, statement), MS);
    expect(r.status).toBe(201);
    return r.digest;
  };
  const check = async (repo: string, digest: string) => {
    const report = (await (await fetch(`${reg.url}/v2/${repo}/_cairn/verify/v1`)).json()) as Json;
    return report.signatures.find((s: Json) => s.digest === digest);
  };

  it("verifies a model signature that lists exactly the artifact's files, and the policy that asks for one follows", async () => {
    const m = await push('signed/bert', files);
    const denied = (await (await fetch(`${reg.url}/v2/signed/bert/manifests/v1`)).json()) as Json;
    expect(denied.errors[0].detail.missing).toEqual([`a verified ${MS} attestation by key release`]);
    const d = await attach('signed/bert', m, release, modelSignature(files));
    expect(await check('signed/bert', d)).toMatchObject({
      verified: true,
      accepted: true,
      predicateType: MS,
      signer: { key: 'release' },
    });
    expect((await fetch(`${reg.url}/v2/signed/bert/manifests/v1`)).status).toBe(200);
  });

  it('says precisely how a model signature does not match the artifact', async () => {
    const m = await push('plain/bert', files);
    const cases: [string, object, RegExp][] = [
      [
        'a file left out',
        modelSignature({ 'config.json': files['config.json'], 'README.md': files['README.md'] }),
        /weights\/model.safetensors is not covered by the model signature/,
      ],
      [
        'other bytes',
        modelSignature({ ...files, 'weights/model.safetensors': 'poisoned weights' }),
        /weights\/model.safetensors differs from what was signed/,
      ],
      [
        'an extra file',
        modelSignature({ ...files, 'tokenizer.json': '{}' }),
        /covers tokenizer.json, which the artifact does not have/,
      ],
      [
        'a root that does not match its resources',
        modelSignature(files, { root: hex('something else') }),
        /inconsistent: its resources hash to/,
      ],
    ];
    for (const [what, statement, why] of cases) {
      const sig = await check('plain/bert', await attach('plain/bert', m, release, statement));
      expect([what, sig.verified, sig.why]).toEqual([what, false, expect.stringMatching(why)]);
    }
    // Matching files, but signed by a key nobody trusts.
    const untrusted = await check('plain/bert', await attach('plain/bert', m, stranger, modelSignature(files)));
    expect(untrusted).toMatchObject({ verified: false, why: expect.stringMatching(/not trusted/) });
    // The format of the v0.2 tool: one subject per file.
    const v01 = {
      _type: 'https://in-toto.io/Statement/v1',
      subject: Object.entries(files).map(([name, content]) => ({ name, digest: { sha256: hex(content) } })),
      predicateType: MS_V01,
      predicate: {},
    };
    const r = await attachBundle(reg.url, 'plain/bert', m, await signInTotoStatement(release, v01), MS_V01);
    expect(await check('plain/bert', r.digest)).toMatchObject({ verified: true, predicateType: MS_V01 });
  });
});
