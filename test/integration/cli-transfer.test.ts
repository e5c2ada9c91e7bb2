import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { addUser, startAuthRegistry, token } from '../helpers/auth';
import { cairn, cleanEnv, metricValue, sha256OfFile, startCairn, waitFor, writeBigFile } from '../helpers/cli-transfer';
import { startTestRegistry, type TestRegistry } from '../helpers/server';
import { sha256 } from './http-client';
import { ciProvenance } from '../../src/client/provenance';
import { modelLayerType } from '../../src/client/artifact-types';
import { parseChallenge } from '../../src/client/auth-challenge';
import { safeRelativePath } from '../../src/client/pull';
import { parseReference, parseRegistry } from '../../src/client/reference';
import { expectOk, RegistryClient, RegistryError } from '../../src/client/registry-client';
import { offsetFromRange } from '../../src/client/upload';

const USER = 'mia';
const PASSWORD = 'mia-password-1234';

/** Every regular file under `dir`, relative path → content. */
async function filesOf(dir: string, rel = ''): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  for (const e of await readdir(path.join(dir, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) for (const [k, v] of await filesOf(dir, r)) out.set(k, v);
    else out.set(r, await readFile(path.join(dir, r)));
  }
  return out;
}

async function bearerFor(reg: TestRegistry, repo: string, actions = 'pull'): Promise<Record<string, string>> {
  return { Authorization: `Bearer ${await token(reg.url, USER, PASSWORD, [`repository:${repo}:${actions}`])}` };
}

async function manifestOf(reg: TestRegistry, repo: string, ref: string): Promise<{ digest: string; manifest: any }> {
  const r = await fetch(`${reg.url}/v2/${repo}/manifests/${ref}`, {
    headers: { ...(await bearerFor(reg, repo)), Accept: 'application/vnd.oci.image.manifest.v1+json' },
  });
  expect(r.status).toBe(200);
  return { digest: r.headers.get('docker-content-digest')!, manifest: await r.json() };
}

async function blobOf(reg: TestRegistry, repo: string, digest: string): Promise<Buffer> {
  const r = await fetch(`${reg.url}/v2/${repo}/blobs/${digest}`, { headers: await bearerFor(reg, repo) });
  expect(r.status).toBe(200);
  return Buffer.from(await r.arrayBuffer());
}

/** A counter's value once it has stopped moving. */
async function settled(read: () => Promise<number>): Promise<number> {
  let last = await read();
  for (;;) {
    await new Promise((r) => setTimeout(r, 300));
    const now = await read();
    if (now === last) return now;
    last = now;
  }
}

const lastLine = (s: string) => s.trim().split('\n').pop()!;

describe('cairn push / pull (the client side)', () => {
  let reg: TestRegistry;
  let host: string;
  let tmp: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    reg = await startAuthRegistry();
    host = new URL(reg.url).host;
    await addUser(reg, USER, PASSWORD, [], [['publisher', 'ml/']]);
  });
  afterAll(async () => reg?.close());

  beforeEach(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'cairn-transfer-'));
    env = cleanEnv({ CAIRN_CONFIG_DIR: path.join(tmp, 'config'), CAIRN_PROGRESS_INTERVAL: '0.2' });
  });
  afterEach(async () => rm(tmp, { recursive: true, force: true }));

  it('logs in with token auth, pushes a dataset and a model with provenance, and pulls them back byte-identical', async () => {
    // Login: checked against the token endpoint, stored 0600, the secret never printed.
    const login = await cairn(['login', host, '-u', USER, '--password-stdin'], env, `${PASSWORD}\n`);
    expect(login).toMatchObject({ code: 0 });
    expect(login.stdout).toMatch(/Login succeeded/);
    const authFile = path.join(tmp, 'config', 'auth.json');
    expect((await stat(authFile)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await readFile(authFile, 'utf8')).auths[host].auth).toBe(
      Buffer.from(`${USER}:${PASSWORD}`).toString('base64'),
    );

    // A dataset first, so that the model can name it.
    const data = path.join(tmp, 'data');
    await mkdir(path.join(data, 'train'), { recursive: true });
    await writeFile(path.join(data, 'train', 'part-0.jsonl'), '{"x":1}\n{"x":2}\n');
    await writeFile(path.join(data, 'train', 'part-1.jsonl'), '{"x":3}\n');
    await writeFile(
      path.join(data, 'cairn.yaml'),
      'name: reviews\nrecords: 3\nsources:\n  - uri: https://example.com/reviews.tar\nx-team: nlp\n',
    );
    const ds = await cairn(
      [
        'push',
        'dataset',
        data,
        `${host}/ml/reviews:v1`,
        '--license',
        'CC-BY-4.0',
        '--format',
        'jsonl',
        '--author',
        'Ann',
      ],
      env,
    );
    expect(ds.code).toBe(0);
    const dsRef = lastLine(ds.stdout);
    expect(dsRef).toMatch(/^ml\/reviews@sha256:[a-f0-9]{64}$/);
    const dsDigest = dsRef.split('@')[1]!;
    const dsm = await manifestOf(reg, 'ml/reviews', 'v1');
    expect(dsm.digest).toBe(dsDigest);
    expect(dsm.manifest).toMatchObject({
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      artifactType: 'application/vnd.cairn.dataset.manifest.v1+json',
      config: { mediaType: 'application/vnd.cairn.dataset.config.v1+json' },
    });
    expect(
      dsm.manifest.layers.map((l: any) => [
        l.mediaType,
        l.annotations['org.opencontainers.image.title'],
        l.annotations['org.cncf.model.filepath'],
      ]),
    ).toEqual([
      ['application/vnd.cairn.dataset.file.v1.raw', 'train/part-0.jsonl', 'train/part-0.jsonl'],
      ['application/vnd.cairn.dataset.file.v1.raw', 'train/part-1.jsonl', 'train/part-1.jsonl'],
    ]);
    const dsConfig = JSON.parse((await blobOf(reg, 'ml/reviews', dsm.manifest.config.digest)).toString());
    expect(dsConfig).toEqual({
      name: 'reviews',
      createdAt: expect.any(String),
      creators: ['Ann'],
      licenses: ['CC-BY-4.0'],
      format: 'jsonl',
      records: 3,
      sources: [{ uri: 'https://example.com/reviews.tar' }],
      files: dsm.manifest.layers.map((l: any) => ({
        path: l.annotations['org.cncf.model.filepath'],
        digest: l.digest,
        size: l.size,
      })),
      'x-team': 'nlp',
    });

    // A model directory with every kind of file, things that must be skipped, and a link that stays inside.
    const model = path.join(tmp, 'model');
    await mkdir(path.join(model, 'src'), { recursive: true });
    await mkdir(path.join(model, '.git'), { recursive: true });
    const weights = randomBytes(300 * 1024);
    await writeFile(path.join(model, 'model.safetensors'), weights);
    await writeFile(path.join(model, 'config.json'), '{"hidden_size":64}');
    await writeFile(path.join(model, 'tokenizer.model'), randomBytes(1000));
    await writeFile(path.join(model, 'README.md'), '# tiny\n');
    await writeFile(path.join(model, 'LICENSE'), 'Apache-2.0\n');
    await writeFile(path.join(model, 'src', 'train.py'), 'print("train")\n');
    await writeFile(path.join(model, 'adapter.unknownext'), randomBytes(10));
    await writeFile(path.join(model, 'empty.txt'), '');
    await writeFile(path.join(model, '.git', 'HEAD'), 'ref: refs/heads/main\n');
    await writeFile(path.join(model, 'leftover.bin.partial'), 'half a download');
    await symlink('model.safetensors', path.join(model, 'weights-alias.bin'));
    await writeFile(
      path.join(model, 'cairn.yaml'),
      'name: tiny-bert\nversion: "1.2"\narchitecture: transformer\nparamSize: 7B\nprecision: bf16\nmetrics:\n  f1: 0.81\ndescription: a tiny model\n',
    );

    const ci = {
      GITHUB_SERVER_URL: 'https://github.com',
      GITHUB_REPOSITORY: 'acme/vision',
      GITHUB_SHA: 'abc123def',
      GITHUB_RUN_ID: '4242',
    };
    const push = await cairn(
      [
        'push',
        'model',
        model,
        `${host}/ml/tiny:v1`,
        '--license',
        'Apache-2.0',
        '--author',
        'Ann',
        '--author',
        'Bob',
        '--framework',
        'pytorch',
        '--format',
        'safetensors',
        '--metric',
        'accuracy=0.93',
        '--dataset',
        `ml/reviews:v1`,
        '--base-model',
        `ml/reviews@${dsDigest}`,
        '--sensitivity',
        'internal',
        '--preprocessing',
        'dedup',
        '--annotation',
        'org.example.team=vision',
        // Below the weights' size: that file goes through the chunked, resumable path (with auth on).
        '--chunk-size',
        '0.0625',
      ],
      { ...env, ...ci },
    );
    expect(push.stderr).not.toContain(PASSWORD);
    expect(push.code).toBe(0);
    const modelRef = lastLine(push.stdout);
    expect(modelRef).toMatch(/^ml\/tiny@sha256:[a-f0-9]{64}$/);

    const { digest, manifest } = await manifestOf(reg, 'ml/tiny', 'v1');
    expect(`ml/tiny@${digest}`).toBe(modelRef);
    expect(manifest.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
    expect(manifest.artifactType).toBe('application/vnd.cncf.model.manifest.v1+json');
    expect(manifest.config.mediaType).toBe('application/vnd.cncf.model.config.v1+json');
    const W = 'application/vnd.cncf.model.weight.v1.raw';
    const C = 'application/vnd.cncf.model.weight.config.v1.raw';
    const D = 'application/vnd.cncf.model.doc.v1.raw';
    expect(manifest.layers.map((l: any) => [l.annotations['org.cncf.model.filepath'], l.mediaType])).toEqual([
      ['LICENSE', D],
      ['README.md', D],
      ['adapter.unknownext', W],
      ['config.json', C],
      ['empty.txt', C],
      ['model.safetensors', W],
      ['src/train.py', 'application/vnd.cncf.model.code.v1.raw'],
      ['tokenizer.model', C],
      ['weights-alias.bin', W],
    ]);
    for (const l of manifest.layers)
      expect(l.annotations['org.opencontainers.image.title']).toBe(l.annotations['org.cncf.model.filepath']);
    expect(manifest.layers[5].digest).toBe(sha256(weights));
    expect(manifest.annotations).toEqual({
      'org.opencontainers.image.created': expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
      'org.opencontainers.image.authors': 'Ann, Bob',
      'org.opencontainers.image.licenses': 'Apache-2.0',
      'org.opencontainers.image.source': 'https://github.com/acme/vision',
      'org.opencontainers.image.revision': 'abc123def',
      'org.opencontainers.image.title': 'tiny-bert',
      'org.opencontainers.image.version': '1.2',
      'org.opencontainers.image.description': 'a tiny model',
      'org.cairn.datasets': `ml/reviews@${dsDigest}`,
      'org.cairn.base-model': `ml/reviews@${dsDigest}`,
      'org.cairn.training.repository': 'https://github.com/acme/vision',
      'org.cairn.training.commit': 'abc123def',
      'org.cairn.pipeline.url': 'https://github.com/acme/vision/actions/runs/4242',
      'org.cairn.pipeline.id': '4242',
      'org.cairn.framework': 'pytorch',
      'org.cairn.preprocessing': '["dedup"]',
      'org.cairn.sensitivity': 'internal',
      'org.example.team': 'vision',
      'org.cairn.metrics': expect.any(String),
    });
    expect(JSON.parse(manifest.annotations['org.cairn.metrics'])).toEqual({ f1: 0.81, accuracy: 0.93 });

    const config = JSON.parse((await blobOf(reg, 'ml/tiny', manifest.config.digest)).toString());
    expect(Object.keys(config).sort()).toEqual(['config', 'descriptor', 'modelfs']);
    expect(config.descriptor).toEqual({
      name: 'tiny-bert',
      version: '1.2',
      authors: ['Ann', 'Bob'],
      licenses: ['Apache-2.0'],
      createdAt: manifest.annotations['org.opencontainers.image.created'],
      sourceURL: 'https://github.com/acme/vision',
      revision: 'abc123def',
      description: 'a tiny model',
    });
    expect(config.config).toEqual({
      format: 'safetensors',
      architecture: 'transformer',
      paramSize: '7B',
      precision: 'bf16',
    });
    expect(config.modelfs).toEqual({ type: 'layers', diffIds: manifest.layers.map((l: any) => l.digest) });

    // Pull it back: the same bytes under the same paths, nothing else.
    const out = path.join(tmp, 'pulled');
    const pull = await cairn(['pull', `${host}/ml/tiny:v1`, out], env);
    expect(pull.code).toBe(0);
    expect(lastLine(pull.stdout)).toBe(modelRef);
    const source = await filesOf(model);
    for (const skipped of ['.git/HEAD', 'cairn.yaml', 'leftover.bin.partial']) source.delete(skipped);
    const pulled = await filesOf(out);
    expect([...pulled.keys()].sort()).toEqual([...source.keys()].sort());
    for (const [k, v] of source) expect(pulled.get(k)!.equals(v)).toBe(true);

    // Again, by digest: every file is already there with the right digest, nothing is fetched.
    const again = await cairn(['pull', `${host}/${modelRef}`, out], env);
    expect(again.code).toBe(0);
    expect(again.stderr).toMatch(/0 downloaded \(0 B\), 9 already present/);

    // A second push of unchanged content uploads nothing but finds every blob in place.
    const repush = await cairn(['push', 'model', model, `${host}/ml/tiny:v2`, '--quiet'], env);
    expect(repush.code).toBe(0);
    expect(repush.stderr).toBe('');

    // Logout forgets the credentials: a pull is then anonymous and refused with a hint.
    expect((await cairn(['logout', host], env)).code).toBe(0);
    const anonymous = await cairn(['pull', `${host}/ml/tiny:v1`, path.join(tmp, 'anon')], env);
    expect(anonymous.code).toBe(1);
    expect(anonymous.stderr).toMatch(/(UNAUTHORIZED|DENIED)[\s\S]*not logged in[\s\S]*cairn login/);
  });

  it('resumes an interrupted 1 GiB push and an interrupted pull, sending only what is missing', async () => {
    const size = 1024 * 1024 * 1024;
    const dir = path.join(tmp, 'big');
    await mkdir(dir);
    const file = path.join(dir, 'weights.bin');
    const digest = await writeBigFile(file, 1024);
    // Credentials from the environment, as in CI.
    const ciEnv = { ...env, CAIRN_USERNAME: USER, CAIRN_PASSWORD: PASSWORD };
    const ref = `${host}/ml/big:v1`;
    const uploads = path.join(tmp, 'config', 'uploads');
    const stateFile = path.join(uploads, `${digest.slice('sha256:'.length)}.json`);

    // Earlier tests pushed to the same registry: count from here.
    const receivedAtStart = await metricValue(reg.url, 'cairn_bytes_received_total', { route: 'upload' });

    // First push, killed once the state file shows part of the file acknowledged.
    const first = startCairn(['push', 'model', dir, ref, '--chunk-size', '16'], ciEnv);
    const killedAt = await waitFor(
      async () => {
        try {
          const s = JSON.parse(await readFile(stateFile, 'utf8')) as { offset: number };
          return s.offset > 0 && s.offset < size / 2 ? s.offset : undefined;
        } catch {
          return undefined;
        }
      },
      60_000,
      'the push to acknowledge a first chunk',
    );
    first.child.kill('SIGKILL');
    expect((await first.done).signal).toBe('SIGKILL');
    // The registry counts the bytes of the cut-off chunk once it notices the client is gone.
    const receivedBefore = await settled(() => metricValue(reg.url, 'cairn_bytes_received_total', { route: 'upload' }));
    expect(receivedBefore - receivedAtStart).toBeGreaterThanOrEqual(killedAt);

    // The re-run continues where the registry stands.
    const second = await cairn(['push', 'model', dir, ref, '--chunk-size', '16'], ciEnv);
    expect(second.code).toBe(0);
    const resumedFrom = Number(/weights\.bin: resuming upload from offset (\d+)/.exec(second.stderr)?.[1]);
    expect(resumedFrom).toBeGreaterThanOrEqual(killedAt);
    expect(resumedFrom).toBeLessThan(size);
    const receivedAfter = await metricValue(reg.url, 'cairn_bytes_received_total', { route: 'upload' });
    // The second run sent the rest of the file (and a small config), not the whole file again.
    expect(receivedAfter - receivedBefore).toBeLessThanOrEqual(size - resumedFrom + 64 * 1024);
    // Over both runs, the file crossed the wire once.
    expect(receivedAfter - receivedAtStart).toBeLessThanOrEqual(size + 64 * 1024);
    await expect(stat(stateFile)).rejects.toThrow();
    // Plain progress lines when stderr is not a terminal.
    expect(second.stderr).toMatch(/weights\.bin: [\d.]+ (MiB|GiB) \/ 1\.0 GiB, [\d.]+ [KMG]?i?B\/s, eta \d+/);

    const { manifest } = await manifestOf(reg, 'ml/big', 'v1');
    expect(manifest.layers).toEqual([expect.objectContaining({ digest, size })]);

    // A pull, killed part-way, then resumed with a Range request.
    const out = path.join(tmp, 'out');
    const partial = path.join(out, 'weights.bin.partial');
    const sentBefore = await metricValue(reg.url, 'cairn_bytes_sent_total', { route: 'blob' });
    const pull1 = startCairn(['pull', ref, out, '--connections', '1'], ciEnv);
    const partialAt = await waitFor(
      async () => {
        const s = await stat(partial).catch(() => undefined);
        return s && s.size > 0 && s.size < size / 2 ? s.size : undefined;
      },
      60_000,
      'the pull to write part of the file',
      2,
    );
    pull1.child.kill('SIGKILL');
    expect((await pull1.done).signal).toBe('SIGKILL');
    // A killed transfer is not a finished response: the counter has not moved.
    expect(await metricValue(reg.url, 'cairn_bytes_sent_total', { route: 'blob' })).toBe(sentBefore);

    const pull2 = await cairn(['pull', ref, out, '--connections', '1'], ciEnv);
    expect(pull2.code).toBe(0);
    const resumedPull = Number(/weights\.bin: resuming download from byte (\d+)/.exec(pull2.stderr)?.[1]);
    expect(resumedPull).toBeGreaterThanOrEqual(partialAt);
    const sentAfter = await metricValue(reg.url, 'cairn_bytes_sent_total', { route: 'blob' });
    // Only the missing range was served.
    expect(sentAfter - sentBefore).toBe(size - resumedPull);
    await expect(stat(partial)).rejects.toThrow();
    expect(await sha256OfFile(path.join(out, 'weights.bin'))).toBe(digest);

    // The default for a large file: ranges on 4 connections. Killed part-way, the next run fetches only
    // the parts that had not arrived, and the whole file is checked against its digest.
    const par = path.join(tmp, 'out-parallel');
    const parts = path.join(par, 'weights.bin.partial.parts');
    const sentBeforeParallel = await metricValue(reg.url, 'cairn_bytes_sent_total', { route: 'blob' });
    const pull3 = startCairn(['pull', ref, par, '--part-size', '16'], ciEnv);
    const doneAtKill = await waitFor(
      async () => {
        const st = await readFile(parts, 'utf8').then(
          (t) => JSON.parse(t || '{"done":[]}') as { done: number[] },
          () => undefined,
        );
        return st && st.done.length >= 4 && st.done.length < 48 ? st.done.length : undefined;
      },
      60_000,
      'the parallel pull to finish some parts',
      2,
    );
    pull3.child.kill('SIGKILL');
    expect((await pull3.done).signal).toBe('SIGKILL');
    const pull4 = await cairn(['pull', ref, par, '--part-size', '16'], ciEnv);
    expect(pull4.code).toBe(0);
    const already = Number(/weights\.bin: resuming, (\d+) of 64 parts already here/.exec(pull4.stderr)?.[1]);
    expect(already).toBeGreaterThanOrEqual(doneAtKill);
    const sentParallel = (await metricValue(reg.url, 'cairn_bytes_sent_total', { route: 'blob' })) - sentBeforeParallel;
    // Finished ranges of the killed run, and every range of the second, each served once; killed ones not counted.
    expect(sentParallel).toBe(size);
    expect(await sha256OfFile(path.join(par, 'weights.bin'))).toBe(digest);
    await expect(stat(parts)).rejects.toThrow();
    await expect(stat(path.join(par, 'weights.bin.partial'))).rejects.toThrow();
  }, 240_000);

  it('works against a registry with authentication off (no token flow), chunked uploads included', async () => {
    const open = await startTestRegistry({ database: 'sqlite', sessions: 'memory' });
    try {
      const h = new URL(open.url).host;
      const dir = path.join(tmp, 'open');
      await mkdir(dir);
      const content = randomBytes(3 * 1024 * 1024 + 5);
      await writeFile(path.join(dir, 'w.gguf'), content);
      const push = await cairn(['push', 'model', dir, `${h}/ml/open:v1`, '--chunk-size', '1'], env, undefined, 60_000);
      expect(push.code).toBe(0);
      const pull = await cairn(['pull', `${h}/ml/open:v1`, path.join(tmp, 'open-out')], env, undefined, 60_000);
      expect(pull.code).toBe(0);
      expect((await readFile(path.join(tmp, 'open-out', 'w.gguf'))).equals(content)).toBe(true);
    } finally {
      await open.close();
    }
  });

  describe('bad input', () => {
    async function loggedIn(): Promise<void> {
      expect((await cairn(['login', host, '-u', USER, '--password-stdin'], env, PASSWORD)).code).toBe(0);
    }

    it('a missing directory, a reference without a tag, and a bad metric are refused before anything is sent', async () => {
      const missing = await cairn(['push', 'model', path.join(tmp, 'nope'), `${host}/ml/x:v1`], env);
      expect(missing.code).toBe(2);
      expect(missing.stderr).toMatch(/cairn: no such directory: .*nope/);

      await mkdir(path.join(tmp, 'm'));
      await writeFile(path.join(tmp, 'm', 'w.bin'), 'w');
      const untagged = await cairn(['push', 'model', path.join(tmp, 'm'), `${host}/ml/x`], env);
      expect(untagged.code).toBe(2);
      expect(untagged.stderr).toMatch(/has no tag; add one, e\.g\. .*ml\/x:v1/);
      const noHost = await cairn(['pull', 'ml/x:v1', path.join(tmp, 'o')], env);
      expect(noHost.code).toBe(2);
      expect(noHost.stderr).toMatch(/does not start with a registry host/);
      const badMetric = await cairn(
        ['push', 'model', path.join(tmp, 'm'), `${host}/ml/x:v1`, '--metric', 'accuracy=high'],
        env,
      );
      expect(badMetric.code).toBe(2);
      expect(badMetric.stderr).toMatch(/--metric accuracy=high: the value must be a number/);
      const empty = path.join(tmp, 'empty');
      await mkdir(empty);
      expect((await cairn(['push', 'dataset', empty, `${host}/ml/x:v1`], env)).stderr).toMatch(/nothing to push/);
    });

    it('a wrong password fails clearly, at login and at push, and stores nothing', async () => {
      const login = await cairn(['login', host, '-u', USER, '--password-stdin'], env, 'not-the-password\n');
      expect(login.code).toBe(1);
      expect(login.stderr).toMatch(/UNAUTHORIZED: invalid credentials/);
      expect(login.stderr).toMatch(/check the user name and password/);
      expect(login.stderr).not.toContain('not-the-password');
      await expect(stat(path.join(tmp, 'config', 'auth.json'))).rejects.toThrow();

      await mkdir(path.join(tmp, 'm'));
      await writeFile(path.join(tmp, 'm', 'w.bin'), 'w');
      const push = await cairn(['push', 'model', path.join(tmp, 'm'), `${host}/ml/x:v1`], {
        ...env,
        CAIRN_USERNAME: USER,
        CAIRN_PASSWORD: 'not-the-password',
      });
      expect(push.code).toBe(1);
      expect(push.stderr).toMatch(/UNAUTHORIZED: invalid credentials/);
      expect(push.stdout).toBe('');
    });

    it('refuses a symbolic link out of the directory on push, and a layer path out of the target on pull', async () => {
      await loggedIn();
      const outside = path.join(tmp, 'secret.txt');
      await writeFile(outside, 'do not ship');
      const dir = path.join(tmp, 'm');
      await mkdir(dir);
      await writeFile(path.join(dir, 'w.bin'), 'w');
      await symlink(outside, path.join(dir, 'leak.txt'));
      const push = await cairn(['push', 'model', dir, `${host}/ml/leak:v1`], env);
      expect(push.code).toBe(2);
      expect(push.stderr).toMatch(/refusing to pack leak\.txt: it is a symbolic link to .*secret\.txt, outside/);

      // A manifest made by another tool, with a path that climbs out of the target directory.
      const auth = await bearerFor(reg, 'ml/evil', 'pull,push');
      const put = async (bytes: Buffer) => {
        const r = await fetch(`${reg.url}/v2/ml/evil/blobs/uploads/?digest=${sha256(bytes)}`, {
          method: 'POST',
          headers: { ...auth, 'Content-Type': 'application/octet-stream' },
          body: bytes,
        });
        expect(r.status).toBe(201);
        return { digest: sha256(bytes), size: bytes.length };
      };
      const config = await put(Buffer.from('{}'));
      const evil = await put(Buffer.from('pwned'));
      for (const [tag, p] of [
        ['climb', '../escape.txt'],
        ['absolute', '/tmp/escape.txt'],
        ['inner', 'a/../../escape.txt'],
      ] as const) {
        const manifest = {
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          config: { mediaType: 'application/vnd.oci.empty.v1+json', ...config },
          layers: [
            {
              mediaType: 'application/vnd.cncf.model.weight.v1.raw',
              ...evil,
              annotations: { 'org.cncf.model.filepath': p },
            },
          ],
        };
        const r = await fetch(`${reg.url}/v2/ml/evil/manifests/${tag}`, {
          method: 'PUT',
          headers: { ...auth, 'Content-Type': manifest.mediaType },
          body: JSON.stringify(manifest),
        });
        expect(r.status).toBe(201);
        const target = path.join(tmp, 'target', 'deeper');
        const pull = await cairn(['pull', `${host}/ml/evil:${tag}`, target], env);
        expect(pull.code).toBe(2);
        expect(pull.stderr).toContain(`its path "${p}" is absolute or leaves the target directory`);
        await expect(stat(path.join(tmp, 'target', 'escape.txt'))).rejects.toThrow();
      }
    });

    it('a corrupt partial download is deleted and reported, and the next pull starts clean', async () => {
      await loggedIn();
      const dir = path.join(tmp, 'm');
      await mkdir(dir);
      const content = randomBytes(256 * 1024);
      await writeFile(path.join(dir, 'w.bin'), content);
      const push = await cairn(['push', 'model', dir, `${host}/ml/partial:v1`, '--quiet'], env);
      expect(push.code).toBe(0);

      // A partial file whose first bytes are not the blob's: the resumed download cannot match the digest.
      const out = path.join(tmp, 'out');
      await mkdir(out);
      await writeFile(path.join(out, 'w.bin.partial'), Buffer.alloc(1000, 7));
      const bad = await cairn(['pull', `${host}/ml/partial:v1`, out], env);
      expect(bad.code).toBe(1);
      expect(bad.stderr).toMatch(/resuming download from byte 1000/);
      expect(bad.stderr).toMatch(
        /w\.bin: downloaded content does not match its digest \(expected sha256:[a-f0-9]{64}, got sha256:[a-f0-9]{64}\); the partial download was deleted/,
      );
      await expect(stat(path.join(out, 'w.bin.partial'))).rejects.toThrow();
      await expect(stat(path.join(out, 'w.bin'))).rejects.toThrow();

      const good = await cairn(['pull', `${host}/ml/partial:v1`, out], env);
      expect(good.code).toBe(0);
      expect((await readFile(path.join(out, 'w.bin'))).equals(content)).toBe(true);
    });
  });

  it('a large file pulled in ranges is checked whole: a damaged part is found, the partial file deleted', async () => {
    const dir = path.join(tmp, 'ranges');
    await mkdir(dir);
    const content = randomBytes(3 * 1024 * 1024 + 5);
    await writeFile(path.join(dir, 'w.bin'), content);
    const ciEnv = { ...env, CAIRN_USERNAME: USER, CAIRN_PASSWORD: PASSWORD };
    expect((await cairn(['push', 'model', dir, `${host}/ml/ranges:v1`, '--quiet'], ciEnv)).code).toBe(0);
    const { manifest } = await manifestOf(reg, 'ml/ranges', 'v1');
    const layer = (manifest.layers as { digest: string; size: number }[]).find((l) => l.size === content.length)!;
    // A previous run's file that claims every part but holds other bytes in one of them.
    const out = path.join(tmp, 'ranges-out');
    await mkdir(out);
    const damaged = Buffer.from(content);
    damaged[1024 * 1024 + 7] ^= 1;
    await writeFile(path.join(out, 'w.bin.partial'), damaged);
    await writeFile(
      path.join(out, 'w.bin.partial.parts'),
      JSON.stringify({ digest: layer.digest, size: layer.size, partBytes: 1024 * 1024, done: [0, 1, 2] }),
    );
    const bad = await cairn(['pull', `${host}/ml/ranges:v1`, out, '--part-size', '1'], ciEnv);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/resuming, 3 of 4 parts already here/);
    expect(bad.stderr).toMatch(/w\.bin: downloaded content does not match its digest/);
    await expect(stat(path.join(out, 'w.bin.partial'))).rejects.toThrow();
    const good = await cairn(['pull', `${host}/ml/ranges:v1`, out, '--part-size', '1', '--connections', '3'], ciEnv);
    expect(good.code).toBe(0);
    expect((await readFile(path.join(out, 'w.bin'))).equals(content)).toBe(true);
    const refused = await cairn(['pull', `${host}/ml/ranges:v1`, out, '--connections', '0'], ciEnv);
    expect([refused.code, refused.stderr]).toEqual([2, expect.stringMatching(/--connections must be a whole number/)]);
  });

  it('an unknown repository or tag names what is missing', async () => {
    const login = await cairn(['login', host, '-u', USER, '--password-stdin'], env, PASSWORD);
    expect(login.code).toBe(0);
    const r = await cairn(['pull', `${host}/ml/never:v9`, path.join(tmp, 'o')], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/fetching ml\/never:v9: (MANIFEST_UNKNOWN|NAME_UNKNOWN)/);
  });

  it('RegistryClient: one login per scope, tokens reused, OCI errors with code, message and detail', async () => {
    const before = await metricValue(reg.url, 'cairn_authentications_total', { method: 'password', result: 'success' });
    const client = new RegistryClient({ baseUrl: reg.url, credentials: { username: USER, password: PASSWORD } });
    try {
      for (let i = 0; i < 3; i++) {
        const r = await client.request('GET', '/v2/ml/nothing-here/tags/list', {
          scope: 'repository:ml/nothing-here:pull',
        });
        expect(r.status).toBe(404);
      }
      const catalog = expectOk(
        await client.request('GET', '/v2/_catalog', { scope: 'registry:catalog:*', query: { n: '5' } }),
      );
      expect(JSON.parse(catalog.body.toString()).repositories).toEqual(expect.any(Array));
      // Two scopes, two token requests: the rest came from the cache.
      expect(await metricValue(reg.url, 'cairn_authentications_total', { method: 'password', result: 'success' })).toBe(
        before + 2,
      );

      const missing = await client.request('GET', '/v2/ml/nothing-here/manifests/v1', {
        scope: 'repository:ml/nothing-here:pull',
      });
      let err: unknown;
      try {
        expectOk(missing, 'fetching ml/nothing-here:v1');
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(RegistryError);
      expect(err).toMatchObject({ status: 404, code: expect.stringMatching(/^(MANIFEST_UNKNOWN|NAME_UNKNOWN)$/) });
      expect((err as Error).message).toMatch(
        /^fetching ml\/nothing-here:v1: (MANIFEST_UNKNOWN|NAME_UNKNOWN): .+ \(detail: \{.*\}\) \[HTTP 404\]$/,
      );

      // Outside the user's roles: the token is issued without the action, and the registry denies.
      const denied = await client.request('GET', '/v2/other/x/tags/list', { scope: 'repository:other/x:pull' });
      expect(denied.status).toBe(403);
      expect(() => expectOk(denied)).toThrow(/DENIED: .*may not pull other\/x/);
    } finally {
      client.close();
    }
    const wrong = new RegistryClient({
      baseUrl: reg.url,
      credentials: { username: USER, password: 'wrong-password-1' },
    });
    await expect(wrong.request('GET', '/v2/ml/x/tags/list', { scope: 'repository:ml/x:pull' })).rejects.toMatchObject({
      status: 401,
      code: 'UNAUTHORIZED',
    });
    wrong.close();
  });
});

describe('client pieces', () => {
  it('parses references, choosing HTTP only for loopback or on request', () => {
    expect(parseReference('registry.example.com/ml/bert:v1')).toEqual({
      registry: 'registry.example.com',
      baseUrl: 'https://registry.example.com',
      repository: 'ml/bert',
      tag: 'v1',
    });
    expect(parseReference('localhost:5000/ml/bert@sha256:' + 'a'.repeat(64))).toEqual({
      registry: 'localhost:5000',
      baseUrl: 'http://localhost:5000',
      repository: 'ml/bert',
      digest: 'sha256:' + 'a'.repeat(64),
    });
    expect(parseReference('127.0.0.1:5000/a/b/c:1.0').baseUrl).toBe('http://127.0.0.1:5000');
    expect(parseReference('lab.internal:8080/x:y', { plainHttp: true }).baseUrl).toBe('http://lab.internal:8080');
    expect(parseReference('[::1]:5000/x:y').baseUrl).toBe('http://[::1]:5000');
    expect(parseReference('r.example/x')).toEqual({
      registry: 'r.example',
      baseUrl: 'https://r.example',
      repository: 'x',
    });
    expect(() => parseReference('ml/bert:v1')).toThrow(/does not start with a registry host/);
    expect(() => parseReference('r.example/ML/Bert:v1')).toThrow(/not a valid repository name/);
    expect(() => parseReference('r.example/ml/bert:-bad')).toThrow(/not a valid tag/);
    expect(() => parseReference('r.example/ml/bert@sha256:abc')).toThrow(/not a valid digest/);
    expect(() => parseReference('https://r.example/ml/bert:v1')).toThrow(/without a scheme/);
    expect(parseRegistry('http://lab:5000/')).toEqual({ registry: 'lab:5000', baseUrl: 'http://lab:5000' });
  });

  it('refuses unsafe pull paths and reads upload ranges and challenges as the registry writes them', () => {
    expect(safeRelativePath('a/./b//c.bin')).toBe('a/b/c.bin');
    for (const bad of ['', '/etc/passwd', '../x', 'a/../../x', 'a/..', 'C:/x', 'a\\..\\x', 'x.partial', 'a\0b'])
      expect(safeRelativePath(bad)).toBeUndefined();
    expect(offsetFromRange('0-0')).toBe(0);
    expect(offsetFromRange('0-0', 0)).toBe(1);
    expect(offsetFromRange('0-1023')).toBe(1024);
    expect(offsetFromRange(undefined)).toBeUndefined();
    expect(
      parseChallenge(
        'Bearer realm="http://r/token",service="cairn",scope="repository:ml/bert:pull,push",error="insufficient_scope"',
      ),
    ).toEqual({
      scheme: 'bearer',
      params: {
        realm: 'http://r/token',
        service: 'cairn',
        scope: 'repository:ml/bert:pull,push',
        error: 'insufficient_scope',
      },
    });
    expect(parseChallenge('Basic realm="cairn"')).toEqual({ scheme: 'basic', params: { realm: 'cairn' } });
  });

  it('classifies model files and reads CI provenance', () => {
    expect(['README', 'readme.txt', 'LICENSE-MIT', 'docs/card.md', 'paper.PDF'].map(modelLayerType)).toEqual(
      Array(5).fill('application/vnd.cncf.model.doc.v1.raw'),
    );
    expect(['a.py', 'n.ipynb', 'run.sh', 'x.R'].map(modelLayerType)).toEqual(
      Array(4).fill('application/vnd.cncf.model.code.v1.raw'),
    );
    expect(['c.json', 'c.yaml', 'v.txt', 'sp.model', 'w.vocab'].map(modelLayerType)).toEqual(
      Array(5).fill('application/vnd.cncf.model.weight.config.v1.raw'),
    );
    expect(['w.safetensors', 'w.gguf', 'noext', 'w.weird'].map(modelLayerType)).toEqual(
      Array(4).fill('application/vnd.cncf.model.weight.v1.raw'),
    );
    expect(
      ciProvenance({
        CI_PROJECT_URL: 'https://gitlab.com/g/p',
        CI_COMMIT_SHA: 'c0ffee',
        CI_PIPELINE_URL: 'https://gitlab.com/g/p/-/pipelines/7',
        CI_PIPELINE_ID: '7',
      }),
    ).toEqual({
      repository: 'https://gitlab.com/g/p',
      commit: 'c0ffee',
      pipelineUrl: 'https://gitlab.com/g/p/-/pipelines/7',
      pipelineId: '7',
    });
    expect(ciProvenance({})).toEqual({});
  });
});
