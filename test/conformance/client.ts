import { createHash, randomBytes } from 'node:crypto';
import { PROFILES, profileName, startTestRegistry, type BackendProfile, type TestRegistry } from '../helpers/server';

/** Helpers for the conformance suite: plain HTTP, as the distribution spec describes it. */
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
export const EMPTY_CONFIG = {
  mediaType: 'application/vnd.oci.empty.v1+json',
  digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a',
  size: 2,
};

export const profiles: [string, BackendProfile][] = PROFILES.map((p) => [profileName(p), p]);

export const sha256 = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
export const sha512 = (b: Buffer | string) => `sha512:${createHash('sha512').update(b).digest('hex')}`;
export const random = (n: number) => randomBytes(n);

let counter = 0;
/** A fresh repository name per test, so tests never see each other's state. */
export const repoName = (prefix = 'conf') => `${prefix}/r${Date.now().toString(36)}${(counter++).toString(36)}`;

export interface ErrorBody {
  errors: { code: string; message: string; detail?: unknown }[];
}

/** Asserts an OCI error answer: the status, the code, and the JSON error shape. */
export async function expectError(r: Response, status: number, code: string | string[]): Promise<ErrorBody> {
  expect(r.status).toBe(status);
  expect(r.headers.get('content-type')).toMatch(/^application\/json/);
  const body = (await r.json()) as ErrorBody;
  expect(Array.isArray(body.errors)).toBe(true);
  expect(typeof body.errors[0]!.message).toBe('string');
  expect(Array.isArray(code) ? code : [code]).toContain(body.errors[0]!.code);
  return body;
}

export class Client {
  private readonly bases: string[];
  private next = 0;

  /** With several replicas, each request goes to the next one, as a round-robin load balancer would. */
  constructor(base: string | string[]) {
    this.bases = Array.isArray(base) ? base : [base];
  }

  get base(): string {
    return this.bases[0]!;
  }

  url(path: string): string {
    const base = this.bases[this.next++ % this.bases.length]!;
    return new URL(path, base).toString();
  }

  fetch(path: string, init: RequestInit = {}): Promise<Response> {
    return fetch(this.url(path), init);
  }

  async pushBlob(repo: string, data: Buffer): Promise<string> {
    const digest = sha256(data);
    const r = await this.fetch(`/v2/${repo}/blobs/uploads/?digest=${digest}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/octet-stream' },
      body: data,
    });
    expect(r.status).toBe(201);
    return digest;
  }

  async startUpload(repo: string): Promise<string> {
    const r = await this.fetch(`/v2/${repo}/blobs/uploads/`, { method: 'POST' });
    expect(r.status).toBe(202);
    const location = r.headers.get('location');
    expect(location).toBeTruthy();
    return location!;
  }

  async putManifest(repo: string, ref: string, manifest: object | Buffer, mediaType = OCI_MANIFEST): Promise<Response> {
    const body = Buffer.isBuffer(manifest) ? manifest : Buffer.from(JSON.stringify(manifest));
    return this.fetch(`/v2/${repo}/manifests/${ref}`, { method: 'PUT', headers: { 'Content-Type': mediaType }, body });
  }

  /** Pushes a config and one layer and an image manifest referencing them; returns the manifest's digest and bytes. */
  async pushImage(
    repo: string,
    tag: string,
    extra: object = {},
  ): Promise<{ digest: string; body: Buffer; layer: Buffer; layerDigest: string; configDigest: string }> {
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', n: random(4).toString('hex') }));
    const layer = random(2048);
    const configDigest = await this.pushBlob(repo, config);
    const layerDigest = await this.pushBlob(repo, layer);
    const manifest = {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configDigest, size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: layerDigest, size: layer.length }],
      ...extra,
    };
    const body = Buffer.from(JSON.stringify(manifest));
    const r = await this.putManifest(repo, tag, body);
    expect(r.status).toBe(201);
    return { digest: sha256(body), body, layer, layerDigest, configDigest };
  }
}

/**
 * A request whose path is sent exactly as written: fetch() normalises `..` and `.` segments away, and a
 * registry must be tested against what a hostile or broken client really sends.
 */
export function rawRequest(
  base: string,
  method: string,
  path: string,
  headers: Record<string, string> = {},
  body?: Buffer,
): Promise<Response> {
  const http = require('node:http') as typeof import('node:http');
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: u.hostname, port: u.port, method, path, headers }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => {
        const h = new Headers();
        for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') h.set(k, v);
        resolve(
          new Response(method === 'HEAD' || res.statusCode === 204 ? null : Buffer.concat(parts), {
            status: res.statusCode,
            headers: h,
          }),
        );
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Starts a registry on `profile` for the enclosing describe block; read `reg` and `c` inside tests. */
export function useRegistry(profile: BackendProfile): { reg: TestRegistry; c: Client } {
  const t = {} as { reg: TestRegistry; c: Client };
  beforeAll(async () => {
    t.reg = await startTestRegistry(profile);
    t.c = new Client(t.reg.urls);
  });
  afterAll(async () => t.reg.close());
  return t;
}
