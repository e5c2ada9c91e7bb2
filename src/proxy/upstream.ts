import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { RegistryClient, registryErrorOf } from '../client/registry-client';
import { drain, readAll } from '../client/http-transport';
import type { Config } from '../config/config';
import { readSecret } from '../config/secrets';
import { OciError } from '../oci/errors';

export type ProxyConfig = Config['proxies'][number];

const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ');

export interface UpstreamManifest {
  digest: string;
  mediaType: string;
  content: Buffer;
}

/** The upstream cannot be asked (network, 5xx, credentials): what is cached is served instead. */
export class UpstreamUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UpstreamUnavailable';
  }
}

const unavailable = (p: ProxyConfig, err: unknown) =>
  new UpstreamUnavailable(`${p.upstream}: ${err instanceof Error ? err.message : String(err)}`);

/** The upstream registry of one pull-through cache, read over the OCI distribution API. */
export class Upstream {
  private client: RegistryClient | undefined;

  constructor(
    readonly config: ProxyConfig,
    private readonly userAgent: string,
  ) {}

  /** Made on first use, so that a missing secret shows at the first pull, not at start-up. */
  private get registry(): RegistryClient {
    if (!this.client) {
      const password = readSecret(this.config, `proxy ${this.config.prefix}`);
      this.client = new RegistryClient({
        baseUrl: this.config.upstream,
        ...(this.config.username ? { credentials: { username: this.config.username, password: password ?? '' } } : {}),
        userAgent: this.userAgent,
      });
    }
    return this.client;
  }

  close(): void {
    this.client?.close();
  }

  /** The manifest under a tag or digest, its digest checked; undefined when the upstream does not have it. */
  async manifest(repository: string, reference: string): Promise<UpstreamManifest | undefined> {
    let res;
    try {
      res = await this.registry.request('GET', `/v2/${repository}/manifests/${reference}`, {
        scope: `repository:${repository}:pull`,
        headers: { Accept: MANIFEST_ACCEPT },
      });
    } catch (err) {
      throw unavailable(this.config, err);
    }
    if (res.status === 404) return undefined;
    if (res.status !== 200) throw unavailable(this.config, registryErrorOf(res, `reading ${repository}:${reference}`));
    const digest = `sha256:${createHash('sha256').update(res.body).digest('hex')}`;
    const claimed = reference.includes(':') ? reference : res.headers['docker-content-digest'];
    if (claimed && claimed.startsWith('sha256:') && claimed !== digest)
      throw new OciError('MANIFEST_INVALID', 'the upstream sent a manifest that does not match its digest', {
        upstream: this.config.upstream,
        expected: claimed,
        actual: digest,
      });
    const mediaType = (res.headers['content-type'] ?? '').split(';')[0]!.trim();
    return { digest, mediaType, content: res.body };
  }

  /** The referrers of a manifest (signatures, attestations) as the upstream lists them; [] when it has no API for it. */
  async referrers(repository: string, digest: string): Promise<string[]> {
    let res;
    try {
      res = await this.registry.request('GET', `/v2/${repository}/referrers/${digest}`, {
        scope: `repository:${repository}:pull`,
        headers: { Accept: 'application/vnd.oci.image.index.v1+json' },
      });
    } catch (err) {
      throw unavailable(this.config, err);
    }
    if (res.status !== 200) return [];
    try {
      const index = JSON.parse(res.body.toString('utf8')) as { manifests?: { digest?: unknown }[] };
      return (index.manifests ?? []).map((m) => m.digest).filter((d): d is string => typeof d === 'string');
    } catch {
      return [];
    }
  }

  /** The blob's bytes as a stream with their length; BLOB_UNKNOWN when the upstream does not have it. */
  async blob(repository: string, digest: string): Promise<{ size: number; body: IncomingMessage }> {
    let res;
    try {
      res = await this.registry.requestStream('GET', `/v2/${repository}/blobs/${digest}`, {
        scope: `repository:${repository}:pull`,
      });
    } catch (err) {
      throw unavailable(this.config, err);
    }
    if (res.status === 200 && /^\d+$/.test(res.headers['content-length'] ?? ''))
      return { size: Number(res.headers['content-length']), body: res.body };
    if (res.status === 404) {
      await drain(res.body);
      throw new OciError('BLOB_UNKNOWN', 'blob unknown to the upstream registry', {
        digest,
        upstream: this.config.upstream,
      });
    }
    const body = await readAll(res.body);
    throw unavailable(
      this.config,
      registryErrorOf({ status: res.status, headers: res.headers, body }, `reading blob ${digest}`),
    );
  }
}
