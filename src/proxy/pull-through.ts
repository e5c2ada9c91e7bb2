import { createHash } from 'node:crypto';
import type { Catalog } from '../catalog/catalog';
import type { Actor } from '../core/actor';
import type { RegistryCore } from '../core/registry-core';
import type { ReadThrough } from '../core/read-through';
import type { Logger } from '../observability/logger';
import { OciError } from '../oci/errors';
import { parseManifest } from '../oci/manifest-parser';
import type { BlobStore } from '../storage/blob-store';
import { Upstream, UpstreamUnavailable, type ProxyConfig, type UpstreamManifest } from './upstream';

export interface PullThroughDeps {
  core: Pick<RegistryCore, 'manifests' | 'blobs'>;
  catalog: Pick<Catalog, 'getManifest' | 'getBlobLink'>;
  blobs: Pick<BlobStore, 'writeBlob'>;
  logger: Pick<Logger, 'warn' | 'info'>;
}

/** Sends each piece of a blob on as it is stored; the last piece only once the whole blob is verified. */
export type BlobSink = (chunk: Buffer) => Promise<void>;

/** Referrers of referrers are followed this deep. */
const MAX_REFERRER_DEPTH = 2;

/**
 * Pull-through caches: a repository under a proxy's prefix is read from the upstream registry on a
 * miss, every digest checked, stored through the registry core (so the cached copy is audited, its
 * signatures ingested and the trust policy applied as for a push) and served. Tags are asked of the
 * upstream again once `tagTtlSeconds` have passed; while the upstream cannot be reached, the cached copy
 * is served. Layers are fetched when first read, streamed to the client while they are stored.
 */
export class PullThrough implements ReadThrough {
  private readonly upstreams: { prefix: string; upstream: Upstream }[];
  /** When each `<repository>:<tag>` was last checked upstream, in this process. */
  private readonly checked = new Map<string, number>();
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly blobsInFlight = new Map<string, Promise<void>>();

  constructor(
    private readonly s: PullThroughDeps,
    proxies: ProxyConfig[],
    userAgent: string,
  ) {
    this.upstreams = proxies.map((p) => ({ prefix: p.prefix, upstream: new Upstream(p, userAgent) }));
  }

  close(): void {
    for (const u of this.upstreams) u.upstream.close();
  }

  private route(repository: string): { upstream: Upstream; name: string; actor: Actor } | undefined {
    const hit = this.upstreams.find((u) => repository.startsWith(`${u.prefix}/`));
    if (!hit) return undefined;
    return {
      upstream: hit.upstream,
      name: repository.slice(hit.prefix.length + 1),
      actor: { id: `proxy:${hit.prefix}`, kind: 'system', authenticatedBy: 'local', can: () => true },
    };
  }

  covers(repository: string): boolean {
    return this.route(repository) !== undefined;
  }

  /** Whether `actor` is the cache itself (the only writer of its namespace). */
  isCache(actor: Actor): boolean {
    return actor.kind === 'system' && actor.id.startsWith('proxy:');
  }

  async manifest(repository: string, reference: string): Promise<void> {
    const key = `${repository}:${reference}`;
    let running = this.inFlight.get(key);
    if (!running) {
      running = this.refresh(repository, reference).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, running);
    }
    await running;
  }

  private async refresh(repository: string, reference: string): Promise<void> {
    const r = this.route(repository);
    if (!r) return;
    const byDigest = reference.includes(':');
    const local = await this.s.catalog.getManifest(repository, reference);
    if (local && byDigest) return;
    const key = `${repository}:${reference}`;
    const ttl = r.upstream.config.tagTtlSeconds * 1000;
    if (local && Date.now() - (this.checked.get(key) ?? 0) < ttl) return;
    let fetched: UpstreamManifest | undefined;
    try {
      fetched = await r.upstream.manifest(r.name, reference);
    } catch (err) {
      if (!(err instanceof UpstreamUnavailable)) throw err;
      if (local) {
        this.s.logger.warn(
          { repository, reference, err: err.message },
          'upstream unreachable; serving the cached copy',
        );
        return;
      }
      throw new OciError('UNAVAILABLE', 'the upstream registry cannot be reached and nothing is cached', {
        repository,
        reference,
        upstream: r.upstream.config.upstream,
      });
    }
    // Gone upstream: what is cached stays served (a cache does not forget what it was asked for).
    if (!fetched) return;
    this.checked.set(key, Date.now());
    if (local?.digest === fetched.digest) return;
    await this.store(r, repository, byDigest ? undefined : reference, fetched);
  }

  /**
   * Stores a manifest fetched upstream: its config first (read by the validation checks), the layers and
   * child manifests later, when read; then its signatures and attestations, whole, so that the trust
   * policy judges the cached copy as it judges a pushed one.
   */
  private async store(
    r: NonNullable<ReturnType<PullThrough['route']>>,
    repository: string,
    tag: string | undefined,
    m: UpstreamManifest,
    depth = 0,
    whole = false,
  ): Promise<void> {
    const parsed = parseManifest(m.content, m.mediaType || undefined);
    const needed = whole ? parsed.blobs : parsed.config ? [parsed.config.digest] : [];
    for (const blob of needed) await this.blob(repository, blob);
    await this.s.core.manifests.put(r.actor, {
      repository,
      reference: tag ?? m.digest,
      content: m.content,
      ...(m.mediaType ? { contentType: m.mediaType } : {}),
      lazy: !whole,
    });
    if (depth >= MAX_REFERRER_DEPTH) return;
    let referrers: string[] = [];
    try {
      referrers = await r.upstream.referrers(r.name, m.digest);
      // Registries without the referrers API keep cosign's signature under a tag named after the digest.
      const sigTag = `${m.digest.replace(':', '-')}.sig`;
      const legacy = await r.upstream.manifest(r.name, sigTag);
      if (legacy) await this.store(r, repository, sigTag, legacy, depth + 1, true);
    } catch (err) {
      this.s.logger.warn({ repository, digest: m.digest, err: (err as Error).message }, 'upstream referrers not read');
    }
    for (const d of referrers) {
      if (await this.s.catalog.getManifest(repository, d)) continue;
      const referrer = await r.upstream.manifest(r.name, d);
      if (referrer) await this.store(r, repository, undefined, referrer, depth + 1, true);
    }
  }

  /**
   * Brings a whole artifact in now: the manifest (refreshed like a pull), every blob, and the child
   * manifests of an index with theirs. For prefetching before the first pull (a promotion upstream).
   */
  async prefetch(repository: string, reference: string): Promise<{ digest: string; blobs: number; bytes: number }> {
    await this.manifest(repository, reference);
    const m = await this.s.catalog.getManifest(repository, reference);
    if (!m) throw new OciError('MANIFEST_UNKNOWN', 'manifest unknown upstream', { repository, reference });
    const counts = { digest: m.digest, blobs: 0, bytes: 0 };
    const parsed = parseManifest(m.content, m.mediaType);
    for (const child of parsed.manifests) {
      const c = await this.prefetch(repository, child);
      counts.blobs += c.blobs;
      counts.bytes += c.bytes;
    }
    for (const d of parsed.blobs) {
      if (await this.s.catalog.getBlobLink(repository, d)) continue;
      await this.blob(repository, d);
      counts.blobs++;
      counts.bytes += (await this.s.catalog.getBlobLink(repository, d))?.size ?? 0;
    }
    return counts;
  }

  /**
   * Fetches a blob into the store (verified, linked) unless it is there, or waits for the fetch already
   * under way: for configs, referrers' blobs, HEAD and range requests.
   */
  async blob(repository: string, digest: string): Promise<void> {
    const running = this.blobsInFlight.get(`${repository}@${digest}`);
    if (running) return running.catch(() => undefined);
    if (await this.s.catalog.getBlobLink(repository, digest)) return;
    await this.fetchBlob(
      repository,
      digest,
      () => undefined,
      async () => undefined,
    );
  }

  /** Whether the blob is being fetched now (a second reader waits for it instead of fetching it again). */
  fetching(repository: string, digest: string): boolean {
    return this.blobsInFlight.has(`${repository}@${digest}`);
  }

  /**
   * Streams a blob from the upstream into the store and, piece by piece, to `sink` (a client waiting for
   * it): one pass. `start` learns the size before the first piece. The last piece reaches the sink only
   * after the digest matched; on a mismatch nothing is stored and the sink never gets a whole blob.
   */
  async fetchBlob(repository: string, digest: string, start: (size: number) => void, sink: BlobSink): Promise<void> {
    const key = `${repository}@${digest}`;
    const running = this.fetchInto(repository, digest, start, sink).finally(() => this.blobsInFlight.delete(key));
    this.blobsInFlight.set(key, running);
    await running;
  }

  private async fetchInto(
    repository: string,
    digest: string,
    start: (size: number) => void,
    sink: BlobSink,
  ): Promise<void> {
    const r = this.route(repository);
    if (!r) throw new OciError('BLOB_UNKNOWN', 'blob unknown to registry', { repository, digest });
    let upstream;
    try {
      upstream = await r.upstream.blob(r.name, digest);
    } catch (err) {
      if (err instanceof UpstreamUnavailable)
        throw new OciError('UNAVAILABLE', 'the upstream registry cannot be reached and the blob is not cached', {
          repository,
          digest,
        });
      throw err;
    }
    const { size, body } = upstream;
    start(size);
    const [algorithm, hex] = digest.split(':') as [string, string];
    const hash = createHash(algorithm);
    let held: Buffer | undefined;
    let received = 0;
    // A client that goes away does not stop the cache from keeping the blob for the next one.
    let listening = true;
    const send = async (chunk: Buffer) => {
      if (!listening) return;
      try {
        await sink(chunk);
      } catch {
        listening = false;
      }
    };
    async function* verified(): AsyncGenerator<Buffer> {
      for await (const chunk of body as AsyncIterable<Buffer>) {
        received += chunk.length;
        if (received > size) throw new Error(`the upstream sent more than the ${size} bytes it announced`);
        hash.update(chunk);
        if (held) await send(held);
        held = chunk;
        yield chunk;
      }
      if (received !== size) throw new Error(`the upstream sent ${received} of ${size} bytes`);
      if (hash.digest('hex') !== hex) throw new Error(`the upstream's bytes do not match ${digest}`);
      if (held) await send(held);
    }
    const pending = await this.s.blobs.writeBlob(digest, verified(), () => undefined);
    if (pending.result.error) {
      body.destroy();
      await pending.discard().catch(() => undefined);
      const why = pending.result.error instanceof Error ? pending.result.error.message : String(pending.result.error);
      throw new OciError('UNAVAILABLE', `the blob could not be fetched from the upstream: ${why}`, {
        repository,
        digest,
      });
    }
    try {
      await this.s.core.blobs.commit(r.actor, {
        repository,
        digest,
        size,
        upload: 'proxy',
        actualDigest: async () => digest,
        place: () => pending.publish(),
      });
    } catch (err) {
      await pending.discard().catch(() => undefined);
      throw err;
    }
  }
}
