import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { RegistryClientV2 } from 'oci-registry-client';
import * as snyk from '@snyk/docker-registry-v2-client';
import { attachArtifactToImage } from '@sigstore/oci';
import type { TestRegistry } from '../helpers/server';
import { bearer, startRegistryWithModelTeam, token } from '../helpers/auth';

const sha256 = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

/** A ModelPack model with its config in the official (Go types) form. */
function modelPackModel(name: string) {
  const weights = Buffer.concat([Buffer.alloc(32), Buffer.from(`weights of ${name}`)]);
  const config = Buffer.from(
    JSON.stringify({
      descriptor: { createdAt: '2026-12-02T08:00:00Z', name, version: '1.0.0', licenses: ['MIT'] },
      modelfs: { type: 'layers', diffIds: [sha256(weights)] },
      config: { format: 'safetensors', capabilities: { inputTypes: ['text'], outputTypes: ['text'] } },
    }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType: 'application/vnd.cncf.model.manifest.v1+json',
      config: { mediaType: 'application/vnd.cncf.model.config.v1+json', digest: sha256(config), size: config.length },
      layers: [
        {
          mediaType: 'application/vnd.cncf.model.weight.v1.raw',
          digest: sha256(weights),
          size: weights.length,
          annotations: { 'org.cncf.model.filepath': 'model.safetensors' },
        },
      ],
    }),
  );
  return { weights, config, manifest, blobs: [config, weights] };
}

async function collect(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of stream as AsyncIterable<Buffer>) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

/**
 * The Node registry clients users reach for, each against the default (token) configuration, each pushing
 * (where it can) and pulling back a ModelPack model byte for byte.
 */
describe('Node registry clients under token auth', () => {
  let reg: TestRegistry;
  let host: string;
  beforeAll(async () => {
    reg = await startRegistryWithModelTeam();
    host = new URL(reg.url).host;
  });
  afterAll(async () => reg?.close());

  /** Pushes a model the way any client would, as the publisher, so that a read-only client can pull it. */
  async function pushAsPublisher(m: ReturnType<typeof modelPackModel>, repo: string): Promise<void> {
    const t = await token(reg.url, 'paula', 'paula-password-123', [`repository:${repo}:pull,push`]);
    for (const blob of m.blobs) {
      const r = await fetch(`${reg.url}/v2/${repo}/blobs/uploads/?digest=${sha256(blob)}`, {
        method: 'POST',
        body: blob,
        headers: bearer(t),
      });
      expect(r.status).toBe(201);
    }
    const put = await fetch(`${reg.url}/v2/${repo}/manifests/v1`, {
      method: 'PUT',
      body: m.manifest,
      headers: { ...bearer(t), 'Content-Type': OCI_MANIFEST },
    });
    expect(put.status).toBe(201);
  }

  it('oci-registry-client pushes a ModelPack model and pulls it back byte for byte', async () => {
    const m = modelPackModel('orc-model');
    const client = new RegistryClientV2({
      name: `${host}/models/orc`,
      username: 'paula',
      password: 'paula-password-123',
      scheme: 'http',
      insecure: true,
      acceptOCIManifests: true,
    });
    for (const blob of m.blobs) {
      const r = await client.blobUpload({
        digest: sha256(blob),
        stream: Readable.from([blob]),
        contentLength: blob.length,
      });
      // Its DockerResponse type is a fetch Response, which this build's DOM-less typings do not see.
      expect((r as unknown as { status: number }).status).toBe(201);
    }
    const put = await client.putManifest({ manifestData: m.manifest, ref: 'v1', mediaType: OCI_MANIFEST });
    expect(put.digest).toBe(sha256(m.manifest));

    const reader = new RegistryClientV2({
      name: `${host}/models/orc`,
      username: 'rita',
      password: 'rita-password-123',
      scheme: 'http',
      insecure: true,
      acceptOCIManifests: true,
    });
    const got = await reader.getManifest({ ref: 'v1', acceptOCIManifests: true });
    expect(Buffer.from(await got.resp.dockerBody()).equals(m.manifest)).toBe(true);
    for (const blob of m.blobs)
      expect((await collect((await reader.createBlobReadStream({ digest: sha256(blob) })).stream)).equals(blob)).toBe(
        true,
      );
    expect((await reader.listTags()).tags).toEqual(['v1']);
    // A reader's token cannot push.
    await expect(
      reader.putManifest({ manifestData: m.manifest, ref: 'v2', mediaType: OCI_MANIFEST }),
    ).rejects.toThrow();
  });

  it('@snyk/docker-registry-v2-client pulls a ModelPack model back byte for byte (it only reads)', async () => {
    const m = modelPackModel('snyk-model');
    await pushAsPublisher(m, 'models/snyk');

    const opts = {
      protocol: 'http:',
      acceptManifest: OCI_MANIFEST,
      acceptLayer: 'application/vnd.cncf.model.weight.v1.raw',
    };
    const manifest = await snyk.getManifest(host, 'models/snyk', 'v1', 'rita', 'rita-password-123', opts);
    expect(manifest.config.digest).toBe(sha256(m.config));
    expect(manifest.layers.map((l) => l.digest)).toEqual([sha256(m.weights)]);
    const layer = await snyk.getLayer(host, 'models/snyk', sha256(m.weights), 'rita', 'rita-password-123', opts);
    expect(layer.equals(m.weights)).toBe(true);
    const config = await snyk.getLayer(host, 'models/snyk', sha256(m.config), 'rita', 'rita-password-123', {
      ...opts,
      acceptLayer: 'application/vnd.cncf.model.config.v1+json',
    });
    expect(config.equals(m.config)).toBe(true);
    expect(await snyk.getTags(host, 'models/snyk', 'rita', 'rita-password-123', 100, 10, opts)).toEqual(['v1']);
  });

  it('@sigstore/oci attaches a bundle to a ModelPack model through the referrers API, its token scope taken from the challenge', async () => {
    const m = modelPackModel('sig-model');
    await pushAsPublisher(m, 'models/sig');

    const bundle = Buffer.from(
      JSON.stringify({
        mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
        verificationMaterial: {},
        messageSignature: {},
      }),
    );
    const attached = await attachArtifactToImage({
      imageName: `${host}/models/sig`,
      imageDigest: sha256(m.manifest),
      credentials: { username: 'paula', password: 'paula-password-123' },
      artifact: bundle,
      mediaType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
      annotations: { 'dev.sigstore.bundle.predicateType': 'https://slsa.dev/provenance/v1' },
    });
    expect(attached.digest).toMatch(/^sha256:/);

    const reader = await token(reg.url, 'rita', 'rita-password-123', ['repository:models/sig:pull']);
    const referrers = (await (
      await fetch(`${reg.url}/v2/models/sig/referrers/${sha256(m.manifest)}`, {
        headers: { ...bearer(reader), Accept: OCI_INDEX },
      })
    ).json()) as { manifests: { digest: string; artifactType: string }[] };
    expect(referrers.manifests).toEqual([
      expect.objectContaining({
        digest: attached.digest,
        artifactType: 'application/vnd.dev.sigstore.bundle.v0.3+json',
      }),
    ]);
    // Through the referrers API, not the sha256-<hex> tag fallback.
    const tags = (await (await fetch(`${reg.url}/v2/models/sig/tags/list`, { headers: bearer(reader) })).json()) as {
      tags: string[];
    };
    expect(tags.tags).toEqual(['v1']);
    // And the bundle reads back byte for byte.
    const sig = (await (
      await fetch(`${reg.url}/v2/models/sig/manifests/${attached.digest}`, {
        headers: { ...bearer(reader), Accept: OCI_MANIFEST },
      })
    ).json()) as { layers: { digest: string }[] };
    const back = Buffer.from(
      await (
        await fetch(`${reg.url}/v2/models/sig/blobs/${sig.layers[0]!.digest}`, { headers: bearer(reader) })
      ).arrayBuffer(),
    );
    expect(back.equals(bundle)).toBe(true);
  });
});
