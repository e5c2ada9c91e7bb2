import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { startTestRegistry, type TestRegistry } from '../helpers/server';
import { addUser, startAuthRegistry } from '../helpers/auth';
import { MODEL_CONFIG, modelConfig, pushArtifact, sha256 } from '../helpers/ml-artifacts';
import { readLayout } from './oci-layout';
import { writeImageLayout } from './image-layout';
import { requireContainerd, startContainerd, type Containerd } from './containerd';

const exec = promisify(execFile);
const skopeo = (...args: string[]) => exec('skopeo', ['--insecure-policy', ...args], { timeout: 120_000 });

interface Pushed {
  manifestDigest: string;
  /** Manifest, config and layers by digest, as the pusher had them. */
  blobs: Map<string, Buffer>;
  layers: string[];
}

/**
 * containerd 1.6 (`ctr`), the pull path of a Kubernetes node, against Cairn: the Docker token flow with
 * a reader's credentials, a node-style hosts.toml, refusals, and a model artifact that is not an image.
 * containerd runs privately (its own root, state and socket in a temporary directory).
 */
describe('containerd pulls from Cairn', () => {
  let cd: Containerd;
  let tmp: string;
  beforeAll(async () => {
    await requireContainerd();
    tmp = await mkdtemp(path.join(os.tmpdir(), 'cairn-ctr-'));
    cd = await startContainerd();
  }, 180_000);
  afterAll(async () => {
    await cd?.stop();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  const imageDigests = async () => {
    const { stdout } = await cd.ctr('images', 'ls');
    const lines = stdout.trim().split('\n').slice(1).filter(Boolean);
    return new Map(lines.map((l) => l.split(/\s+/)).map(([ref, , digest]) => [ref!, digest!]));
  };
  const contentDigests = async () => new Set((await cd.ctr('content', 'ls', '-q')).stdout.split('\n').filter(Boolean));

  /** Every blob is in containerd's content store, byte for byte. */
  const expectStored = async (pushed: Pushed) => {
    const stored = await contentDigests();
    for (const [digest, bytes] of pushed.blobs) {
      expect(stored).toContain(digest);
      const got = await cd.ctrBytes('content', 'get', digest);
      expect(sha256(got)).toBe(digest);
      expect(got.equals(bytes)).toBe(true);
    }
  };
  const expectNothingOf = async (ref: string, pushed: Pushed) => {
    expect((await imageDigests()).has(ref)).toBe(false);
    const stored = await contentDigests();
    for (const digest of pushed.blobs.keys()) expect(stored).not.toContain(digest);
  };

  describe('an image, with authentication', () => {
    let reg: TestRegistry;
    let host: string;
    beforeAll(async () => {
      reg = await startAuthRegistry();
      host = new URL(reg.url).host;
      await addUser(reg, 'paula', 'paula-password-123', [], [['publisher', 'models/']]);
      await addUser(reg, 'rita', 'rita-password-123', [], [['reader', 'models/']]);
      await addUser(reg, 'otto', 'otto-password-123', [], [['reader', 'datasets/']]);
    }, 180_000);
    afterAll(async () => {
      await reg?.close();
    });

    /** A fresh image (its own random layer) per repository, so a pull cannot be served from an earlier one. */
    const pushImage = async (repo: string): Promise<Pushed> => {
      const dir = path.join(tmp, repo.replace(/\//g, '-'));
      // ctr unpacks what it pulls: the layer must be a real tar whose digest the config's diff_ids name.
      await writeImageLayout(dir, 'v1');
      await skopeo(
        'copy',
        '--preserve-digests',
        '--dest-tls-verify=false',
        '--dest-creds',
        'paula:paula-password-123',
        `oci:${dir}:v1`,
        `docker://${host}/${repo}:v1`,
      );
      const layout = await readLayout(dir);
      const manifest = JSON.parse(layout.manifest.toString('utf8')) as {
        config: { digest: string };
        layers: { digest: string }[];
      };
      const blobs = new Map([[layout.manifestDigest, layout.manifest]]);
      for (const d of [manifest.config.digest, ...manifest.layers.map((l) => l.digest)])
        blobs.set(d, await layout.blob(d));
      return { manifestDigest: layout.manifestDigest, blobs, layers: manifest.layers.map((l) => l.digest) };
    };
    // The native snapshotter works on any file system; overlayfs may not nest inside a CI container.
    const pull = (...args: string[]) => cd.ctr('images', 'pull', '--snapshotter', 'native', ...args);

    /** Pulled as a node would need it: image record, all content, and the layer unpacked into a snapshot. */
    const expectPulled = async (ref: string, pushed: Pushed) => {
      expect((await imageDigests()).get(ref)).toBe(pushed.manifestDigest);
      await expectStored(pushed);
      // One uncompressed layer: its chain ID is its diff ID, which is its digest.
      const { stdout } = await cd.ctr('snapshots', '--snapshotter', 'native', 'ls');
      expect(stdout).toContain(pushed.layers[0]!);
    };

    it("pulls with a reader's password over plain HTTP", async () => {
      const pushed = await pushImage('models/ctr-plain');
      const ref = `${host}/models/ctr-plain:v1`;
      await pull('--plain-http', '--user', 'rita:rita-password-123', ref);
      await expectPulled(ref, pushed);
    }, 120_000);

    it('pulls configured like a Kubernetes node (hosts.toml)', async () => {
      const pushed = await pushImage('models/ctr-hosts');
      const ref = `${host}/models/ctr-hosts:v1`;
      const hostsDir = path.join(tmp, 'certs.d');
      await mkdir(path.join(hostsDir, host), { recursive: true });
      const hostsToml = (server: string) =>
        writeFile(
          path.join(hostsDir, host, 'hosts.toml'),
          [`server = "${server}"`, '', `[host."${server}"]`, '  capabilities = ["pull", "resolve"]', ''].join('\n'),
        );
      // containerd speaks plain HTTP to a loopback address by itself; an https server in the file must
      // break the pull, or the file was never read.
      await hostsToml(`https://${host}`);
      await expect(pull('--hosts-dir', hostsDir, '--user', 'rita:rita-password-123', ref)).rejects.toThrow(
        /HTTP response to HTTPS client/,
      );
      await expectNothingOf(ref, pushed);
      await hostsToml(`http://${host}`);
      await pull('--hosts-dir', hostsDir, '--user', 'rita:rita-password-123', ref);
      await expectPulled(ref, pushed);
    }, 120_000);

    it('refuses a wrong password and a user without pull on the repository', async () => {
      const pushed = await pushImage('models/ctr-refused');
      const ref = `${host}/models/ctr-refused:v1`;
      await expect(pull('--plain-http', '--user', 'rita:wrong-password', ref)).rejects.toThrow(/401|unauthorized/i);
      await expectNothingOf(ref, pushed);
      await expect(pull('--plain-http', '--user', 'otto:otto-password-123', ref)).rejects.toThrow(
        /401|403|unauthorized|denied/i,
      );
      await expectNothingOf(ref, pushed);
    }, 120_000);
  });

  describe('a model artifact (not an image)', () => {
    let reg: TestRegistry;
    beforeAll(async () => {
      reg = await startTestRegistry({ database: 'sqlite', sessions: 'memory' });
    }, 180_000);
    afterAll(async () => {
      await reg?.close();
    });

    it('fetches every blob into the content store, byte for byte', async () => {
      const host = new URL(reg.url).host;
      const config = Buffer.from(JSON.stringify(modelConfig('models/llama')));
      const files = {
        'model.safetensors': randomBytes(3 << 20),
        'tokenizer.json': Buffer.from('{"vocab":{}}'),
        'README.md': Buffer.from('# llama\n'),
      };
      const pushed = await pushArtifact(reg.url, 'models/llama', 'v1', {
        artifactType: 'application/vnd.cncf.model.manifest.v1+json',
        configMediaType: MODEL_CONFIG,
        config: config.toString('utf8'),
        files,
      });
      expect(pushed.status).toBe(201);
      const manifest = Buffer.from(
        await (await fetch(`${reg.url}/v2/models/llama/manifests/${pushed.digest}`)).arrayBuffer(),
      );
      expect(sha256(manifest)).toBe(pushed.digest);
      const layers = Object.values(files).map(sha256);
      const blobs = new Map<string, Buffer>([
        [pushed.digest, manifest],
        [sha256(config), config],
        ...Object.values(files).map((b) => [sha256(b), b] as [string, Buffer]),
      ]);

      await cd.ctr('content', 'fetch', '--plain-http', `${host}/models/llama:v1`);
      expect((await imageDigests()).get(`${host}/models/llama:v1`)).toBe(pushed.digest);
      await expectStored({ manifestDigest: pushed.digest, blobs, layers });
    }, 120_000);
  });
});
