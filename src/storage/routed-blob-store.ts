import type { Readable } from 'node:stream';
import {
  BlobNotFound,
  type AppendResult,
  type BlobInfo,
  type BlobStore,
  type ByteRange,
  type PendingBlob,
  type StagedUpload,
} from './blob-store';
import { currentScope, enableRouting } from './route-context';

export interface StorageRoute {
  name: string;
  /** Whether a repository's blobs belong to this route. */
  matches(repository: string): boolean;
  store: BlobStore;
}

export const DEFAULT_ROUTE = 'default';

/**
 * Blob storage routed by repository: an on-premises file system for `restricted/**`, a bucket for the
 * rest. Writes (uploads, whole-blob writes) go to the route of the repository in scope (route-context.ts);
 * reads look there first and then in the other routes (blobs stored before a route was added stay
 * readable where they are); a mount into a repository of another route copies the bytes over (adopt);
 * deletes, listings and staged uploads cover every route, so the collector and the scrubber do too.
 */
export class RoutedBlobStore implements BlobStore {
  readonly kind: string;
  readonly sendTo?: BlobStore['sendTo'];
  readonly presignGet?: BlobStore['presignGet'];
  readonly sweepUnfinished?: BlobStore['sweepUnfinished'];
  private readonly all: StorageRoute[];

  constructor(fallback: BlobStore, routes: StorageRoute[]) {
    enableRouting();
    this.all = [...routes, { name: DEFAULT_ROUTE, matches: () => true, store: fallback }];
    this.kind = `routed(${this.all.map((r) => `${r.name}:${r.store.kind}`).join(',')})`;
    const stores = this.all.map((r) => r.store);
    if (stores.every((s) => s.sendTo))
      this.sendTo = async (digest, range, out, beforeWrite) =>
        (await this.holder(digest)).sendTo!(digest, range, out, beforeWrite);
    // A presigned URL is only as good as the store holding the blob: offered when every route can.
    if (stores.every((s) => s.presignGet))
      this.presignGet = async (digest, ttl) => (await this.holder(digest)).presignGet!(digest, ttl);
    if (stores.some((s) => s.sweepUnfinished))
      this.sweepUnfinished = async (idleMs) => {
        let n = 0;
        for (const s of stores) n += (await s.sweepUnfinished?.(idleMs)) ?? 0;
        return n;
      };
  }

  /** The route the work in scope writes to. */
  private route(): StorageRoute {
    const s = currentScope();
    if (s?.route) return this.all.find((r) => r.name === s.route) ?? this.all.at(-1)!;
    if (s?.repository) return this.all.find((r) => r.matches(s.repository!))!;
    return this.all.at(-1)!;
  }

  /** The routes to read from: the one in scope first. */
  private readOrder(): BlobStore[] {
    const first = this.route();
    return [first.store, ...this.all.filter((r) => r !== first).map((r) => r.store)];
  }

  private async holder(digest: string): Promise<BlobStore> {
    for (const s of this.readOrder()) if (await s.stat(digest)) return s;
    throw new BlobNotFound(digest);
  }

  async init(): Promise<void> {
    for (const r of this.all) await r.store.init();
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.all.map((r) => r.store.close()));
  }

  async stat(digest: string): Promise<BlobInfo | undefined> {
    for (const s of this.readOrder()) {
      const info = await s.stat(digest);
      if (info) return info;
    }
    return undefined;
  }

  async read(digest: string, range?: ByteRange): Promise<Readable> {
    return (await this.holder(digest)).read(digest, range);
  }

  /**
   * Makes the blob present in the route in scope, copying it from the route that has it: a mount into
   * a repository of another route must not leave that repository's bytes outside its own backend.
   */
  async adopt(digest: string): Promise<void> {
    const target = this.route().store;
    if (await target.stat(digest)) return;
    const source = await this.holder(digest);
    const pending = await target.writeBlob(digest, await source.read(digest), () => undefined);
    if (pending.result.error) {
      await pending.discard().catch(() => undefined);
      throw pending.result.error;
    }
    await pending.publish();
  }

  async delete(digest: string): Promise<boolean> {
    let removed = false;
    for (const r of this.all) removed = (await r.store.delete(digest)) || removed;
    return removed;
  }

  async *list(): AsyncIterable<{ digest: string; size: number; modifiedAt: Date; route: string }> {
    for (const r of this.all) for await (const b of r.store.list()) yield { ...b, route: r.name };
  }

  stageCreate(id: string): Promise<void> {
    return this.route().store.stageCreate(id);
  }

  stageSize(id: string): Promise<number | undefined> {
    return this.route().store.stageSize(id);
  }

  stageAppend(
    id: string,
    offset: number,
    source: AsyncIterable<Buffer>,
    onWritten: (chunk: Buffer) => void,
  ): Promise<AppendResult> {
    return this.route().store.stageAppend(id, offset, source, onWritten);
  }

  stageRead(id: string, end?: number, start?: number): Promise<Readable> {
    return this.route().store.stageRead(id, end, start);
  }

  stageCommit(id: string, digest: string, size: number): Promise<BlobInfo> {
    return this.route().store.stageCommit(id, digest, size);
  }

  stageTruncate(id: string, size: number): Promise<void> {
    return this.route().store.stageTruncate(id, size);
  }

  /** In scope, the route's upload; without one (the janitor), wherever the upload is. */
  async stageDelete(id: string): Promise<void> {
    if (currentScope()) return this.route().store.stageDelete(id);
    for (const r of this.all) if ((await r.store.stageSize(id)) !== undefined) await r.store.stageDelete(id);
  }

  async *stageList(): AsyncIterable<StagedUpload> {
    for (const r of this.all) yield* r.store.stageList();
  }

  writeBlob(digest: string, source: AsyncIterable<Buffer>, onWritten: (chunk: Buffer) => void): Promise<PendingBlob> {
    return this.route().store.writeBlob(digest, source, onWritten);
  }
}
