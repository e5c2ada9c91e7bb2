import type { Readable } from 'node:stream';
import { RegistryClient, RegistryError, expectOk, registryErrorOf } from '../client/registry-client';
import type { Config } from '../config/config';
import { readSecret } from '../config/secrets';

export type ReplicationTargetConfig = Config['replication']['targets'][number];

export const VIA_HEADER = 'Cairn-Replicated-Via';

/** The target refused a change for good (a 4xx that retrying will not change): the event is given up on. */
export class RefusedByTarget extends Error {
  constructor(override readonly cause: RegistryError) {
    super(cause.message);
    this.name = 'RefusedByTarget';
  }
}

/**
 * A refusal to record and pass over rather than a fault to retry: a 4xx other than bad credentials (401),
 * a timeout or a rate limit. A 403 is passed over too: at a registry with governance (an immutable tag
 * the change would move) it never goes away, and retrying it would hold back every later change; a
 * robot missing a permission shows as failures per change, and `cairn replicate` sends them again.
 */
function classify(err: RegistryError): Error {
  const retry = err.status === 0 || err.status >= 500 || [401, 408, 429].includes(err.status);
  return retry ? err : new RefusedByTarget(err);
}

/**
 * The target registry as replication uses it: the OCI distribution API only, so any registry will do.
 * Credentials are read when it is made (a rotated secret file is picked up by the next pass).
 */
export class ReplicationTarget {
  private readonly client: RegistryClient;

  constructor(
    readonly config: ReplicationTargetConfig,
    userAgent: string,
    env: NodeJS.ProcessEnv = process.env,
  ) {
    const pass = readSecret(config, `replication target ${config.name}`, env);
    this.client = new RegistryClient({
      baseUrl: config.url,
      ...(config.username ? { credentials: { username: config.username, password: pass ?? '' } } : {}),
      userAgent,
    });
  }

  close(): void {
    this.client.close();
  }

  private scope(repository: string): string {
    return `repository:${repository}:pull,push`;
  }

  async hasBlob(repository: string, digest: string): Promise<boolean> {
    const res = await this.client.request('HEAD', `/v2/${repository}/blobs/${digest}`, {
      scope: this.scope(repository),
    });
    if (res.status === 200) return true;
    if (res.status === 404) return false;
    throw classify(registryErrorOf(res, `checking blob ${digest} in ${repository}`));
  }

  /**
   * Asks the target to mount the blob from another of its repositories; true when it did. Otherwise the
   * upload the target opened instead (202) is handed back for the bytes.
   */
  async mount(repository: string, digest: string, from: string): Promise<{ mounted: true } | { location: string }> {
    const res = await this.client.request('POST', `/v2/${repository}/blobs/uploads/`, {
      scope: `${this.scope(repository)} repository:${from}:pull`,
      query: { mount: digest, from },
    });
    if (res.status === 201) return { mounted: true };
    if (res.status === 202 && res.headers.location) return { location: res.headers.location };
    throw classify(registryErrorOf(res, `mounting ${digest} into ${repository}`));
  }

  /** Streams a blob into an upload (opened here unless `location` is given), finished with its digest. */
  async pushBlob(repository: string, digest: string, size: number, body: Readable, location?: string): Promise<void> {
    const scope = this.scope(repository);
    try {
      if (!location) {
        const res = await this.client.request('POST', `/v2/${repository}/blobs/uploads/`, { scope });
        if (res.status !== 202 || !res.headers.location)
          throw classify(registryErrorOf(res, `starting the upload of ${digest} to ${repository}`));
        location = res.headers.location;
      }
      const res = await this.client.request('PUT', location, {
        scope,
        query: { digest },
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(size) },
        body: size === 0 ? Buffer.alloc(0) : body,
      });
      if (res.status !== 201) throw classify(registryErrorOf(res, `uploading ${digest} to ${repository}`));
    } finally {
      body.destroy();
    }
  }

  /** The digest the target has under a tag or digest, or undefined. */
  async manifestDigest(repository: string, reference: string, accept: string): Promise<string | undefined> {
    const res = await this.client.request('HEAD', `/v2/${repository}/manifests/${reference}`, {
      scope: this.scope(repository),
      headers: { Accept: accept },
    });
    if (res.status === 200) return res.headers['docker-content-digest'] ?? (reference.includes(':') ? reference : '');
    if (res.status === 404) return undefined;
    throw classify(registryErrorOf(res, `checking ${repository}:${reference}`));
  }

  /** Puts the manifest under the reference; false when the target says the change came from it (a loop). */
  async putManifest(
    repository: string,
    reference: string,
    content: Buffer,
    mediaType: string,
    via: string[],
  ): Promise<boolean> {
    const res = await this.client.request('PUT', `/v2/${repository}/manifests/${reference}`, {
      scope: this.scope(repository),
      headers: { 'Content-Type': mediaType, [VIA_HEADER]: via.join(',') },
      body: content,
    });
    if (res.status === 201) return true;
    const err = registryErrorOf(res, `putting manifest ${repository}:${reference}`);
    if (err.code === 'REPLICATION_LOOP') return false;
    throw classify(err);
  }

  /** Deletes a manifest (by digest) or a tag; a target that no longer has it is fine. */
  async deleteManifest(repository: string, reference: string, via: string[]): Promise<void> {
    const res = await this.client.request('DELETE', `/v2/${repository}/manifests/${reference}`, {
      scope: `repository:${repository}:delete`,
      headers: { [VIA_HEADER]: via.join(',') },
    });
    if (res.status === 202 || res.status === 404) return;
    const err = registryErrorOf(res, `deleting ${repository}:${reference}`);
    if (err.code === 'REPLICATION_LOOP') return;
    throw classify(err);
  }

  /** Tells a pull-through cache (the target) to fetch an artifact from this registry now. */
  async prefetch(repository: string, reference: string): Promise<void> {
    const res = await this.client.request(
      'POST',
      `/v2/${repository}/_cairn/prefetch/${encodeURIComponent(reference)}`,
      {
        scope: `repository:${repository}:pull`,
      },
    );
    if (res.status !== 200)
      throw classify(registryErrorOf(res, `asking ${this.config.url} to prefetch ${repository}:${reference}`));
  }

  /** The target answers /v2/ (with or without credentials): for the status command. */
  async check(): Promise<void> {
    await this.client.authenticate();
    expectOk(await this.client.request('GET', '/v2/', {}), `reaching ${this.config.url}`);
  }
}
