import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { BlobNotFound, StageOffsetMismatch, StoredSizeMismatch, type BlobStore } from '../../src/storage/blob-store';

export interface BlobStoreFixture {
  store: BlobStore;
  cleanup(): Promise<void>;
}

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const sha512 = (b: Buffer) => `sha512:${createHash('sha512').update(b).digest('hex')}`;

async function collect(r: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

async function* chunks(data: Buffer, size: number): AsyncIterable<Buffer> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

async function* failingAfter(data: Buffer, size: number): AsyncIterable<Buffer> {
  yield* chunks(data, size);
  throw new Error('client went away');
}

let seq = 0;
const newId = () => `up-${Date.now()}-${seq++}`;

/** The behaviour every BlobStore must have; run against each implementation. */
export function blobStoreContract(name: string, make: () => Promise<BlobStoreFixture>): void {
  describe(`BlobStore contract: ${name}`, () => {
    let f: BlobStoreFixture;
    let store: BlobStore;
    beforeEach(async () => {
      f = await make();
      store = f.store;
      await store.init();
    });
    afterEach(async () => {
      await store.close();
      await f.cleanup();
    });

    async function put(data: Buffer, digest = sha256(data)): Promise<string> {
      const id = newId();
      await store.stageCreate(id);
      await store.stageAppend(id, 0, chunks(data, 1000), () => undefined);
      await store.stageCommit(id, digest, data.length);
      return digest;
    }

    it('stages, commits and serves a blob by digest only after commit', async () => {
      const data = randomBytes(10_000);
      const digest = sha256(data);
      const id = newId();
      await store.stageCreate(id);
      const seen: Buffer[] = [];
      const r = await store.stageAppend(id, 0, chunks(data, 777), (c) => seen.push(c));
      expect(r).toEqual({ size: 10_000 });
      expect(Buffer.concat(seen).equals(data)).toBe(true);
      expect(await store.stageSize(id)).toBe(10_000);
      expect(await store.stat(digest)).toBeUndefined();
      await expect(store.read(digest)).rejects.toBeInstanceOf(BlobNotFound);
      expect(await store.stageCommit(id, digest, 10_000)).toEqual({ digest, size: 10_000 });
      expect(await store.stat(digest)).toEqual({ digest, size: 10_000 });
      expect((await collect(await store.read(digest))).equals(data)).toBe(true);
      expect(await store.stageSize(id)).toBeUndefined();
    });

    it('appends chunk after chunk at the right offset, and refuses a wrong offset', async () => {
      const a = randomBytes(3000);
      const b = randomBytes(5000);
      const id = newId();
      await store.stageCreate(id);
      expect((await store.stageAppend(id, 0, chunks(a, 1024), () => undefined)).size).toBe(3000);
      await expect(store.stageAppend(id, 0, chunks(b, 1024), () => undefined)).rejects.toBeInstanceOf(
        StageOffsetMismatch,
      );
      await expect(store.stageAppend(id, 4000, chunks(b, 1024), () => undefined)).rejects.toMatchObject({
        actual: 3000,
        expected: 4000,
      });
      expect((await store.stageAppend(id, 3000, chunks(b, 1024), () => undefined)).size).toBe(8000);
      expect((await collect(await store.stageRead(id))).equals(Buffer.concat([a, b]))).toBe(true);
      expect((await collect(await store.stageRead(id, 3000))).equals(a)).toBe(true);
      expect((await collect(await store.stageRead(id, 0))).length).toBe(0);
      // A window, across the boundary between the two appends and inside each.
      expect(
        (await collect(await store.stageRead(id, 3500, 2500))).equals(Buffer.concat([a, b]).subarray(2500, 3500)),
      ).toBe(true);
      expect((await collect(await store.stageRead(id, 2000, 1000))).equals(a.subarray(1000, 2000))).toBe(true);
      expect((await collect(await store.stageRead(id, undefined, 3000))).equals(b)).toBe(true);
      expect((await collect(await store.stageRead(id, 3000, 3000))).length).toBe(0);
    });

    it('cuts a staged upload back and continues from there, refusing to grow by cutting', async () => {
      const data = randomBytes(200_000);
      const id = newId();
      await store.stageCreate(id);
      await store.stageAppend(id, 0, chunks(data.subarray(0, 150_000), 50_000), () => undefined);
      await store.stageAppend(id, 150_000, chunks(data.subarray(150_000), 7_000), () => undefined);
      await expect(store.stageTruncate(id, 200_001)).rejects.toBeInstanceOf(StageOffsetMismatch);
      // Inside the second append, then inside the first.
      await store.stageTruncate(id, 170_001);
      expect(await store.stageSize(id)).toBe(170_001);
      await store.stageTruncate(id, 99_999);
      expect(await store.stageSize(id)).toBe(99_999);
      expect((await collect(await store.stageRead(id))).equals(data.subarray(0, 99_999))).toBe(true);
      expect((await store.stageAppend(id, 99_999, chunks(data.subarray(99_999), 33_333), () => undefined)).size).toBe(
        200_000,
      );
      await store.stageCommit(id, sha256(data), data.length);
      expect((await collect(await store.read(sha256(data)))).equals(data)).toBe(true);
      await expect(store.stageTruncate(newId(), 0)).rejects.toBeInstanceOf(BlobNotFound);
    });

    it('keeps a consistent prefix when the source fails, and hashes it whenever the counts agree', async () => {
      const data = randomBytes(6 * 1024 * 1024 + 123);
      const id = newId();
      await store.stageCreate(id);
      const hash = createHash('sha256');
      let seen = 0;
      const r = await store.stageAppend(id, 0, failingAfter(data, 65536), (c) => {
        hash.update(c);
        seen += c.length;
      });
      expect(r.error?.message).toBe('client went away');
      expect(r.failed).toBe('source');
      expect(r.size).toBeGreaterThanOrEqual(0);
      expect(r.size).toBeLessThanOrEqual(data.length);
      expect(await store.stageSize(id)).toBe(r.size);
      expect((await collect(await store.stageRead(id))).equals(data.subarray(0, r.size))).toBe(true);
      if (seen === r.size) expect(`sha256:${hash.digest('hex')}`).toBe(sha256(data.subarray(0, r.size)));
      // And the upload continues from there.
      const more = randomBytes(100);
      expect((await store.stageAppend(id, r.size, chunks(more, 10), () => undefined)).size).toBe(r.size + 100);
    });

    it('streams a 64 MiB append in pieces and hashes what was written', async () => {
      const piece = randomBytes(1024 * 1024);
      async function* big() {
        for (let i = 0; i < 64; i++) yield piece;
      }
      const id = newId();
      await store.stageCreate(id);
      const hash = createHash('sha256');
      const r = await store.stageAppend(id, 0, big(), (c) => hash.update(c));
      expect(r.size).toBe(64 * 1024 * 1024);
      const expected = createHash('sha256');
      for (let i = 0; i < 64; i++) expected.update(piece);
      const digest = `sha256:${expected.digest('hex')}`;
      expect(`sha256:${hash.digest('hex')}`).toBe(digest);
      await store.stageCommit(id, digest, r.size);
      const check = createHash('sha256');
      for await (const c of await store.read(digest)) check.update(c as Buffer);
      expect(`sha256:${check.digest('hex')}`).toBe(digest);
    });

    it('commits nothing without proof: a staged size other than the bytes received fails and leaves nothing visible', async () => {
      const data = randomBytes(7000);
      const digest = sha256(data);
      const id = newId();
      await store.stageCreate(id);
      await store.stageAppend(id, 0, chunks(data, 1000), () => undefined);
      await expect(store.stageCommit(id, digest, 7001)).rejects.toBeInstanceOf(StoredSizeMismatch);
      await expect(store.stageCommit(id, digest, 6999)).rejects.toMatchObject({ expected: 6999, stored: 7000 });
      expect(await store.stat(digest)).toBeUndefined();
      // The staged bytes are untouched: the right claim still commits them.
      expect(await store.stageCommit(id, digest, 7000)).toEqual({ digest, size: 7000 });
      expect((await collect(await store.read(digest))).equals(data)).toBe(true);
    });

    it('replaces a copy stored under the digest with another size by the verified bytes (repair by pushing again)', async () => {
      const data = randomBytes(9000);
      const digest = sha256(data);
      // What an affected registry left behind: the digest of the whole, the bytes of its last half.
      await put(data.subarray(4500), digest);
      expect(await store.stat(digest)).toEqual({ digest, size: 4500 });
      await put(data, digest);
      expect(await store.stat(digest)).toEqual({ digest, size: 9000 });
      expect((await collect(await store.read(digest))).equals(data)).toBe(true);
    });

    it('stores a multi-part stream of odd chunk sizes byte for byte (parts numbered in order)', async () => {
      const data = randomBytes(21 * 1024 * 1024 + 12345);
      const id = newId();
      await store.stageCreate(id);
      const r = await store.stageAppend(id, 0, chunks(data, 1_000_003), () => undefined);
      expect(r).toEqual({ size: data.length });
      await store.stageCommit(id, sha256(data), data.length);
      const back = await collect(await store.read(sha256(data)));
      expect(back.length).toBe(data.length);
      expect(back.equals(data)).toBe(true);
    });

    it('stores a blob once whatever the number of commits (deduplication)', async () => {
      const data = randomBytes(500);
      const digest = await put(data);
      const id = newId();
      await store.stageCreate(id);
      await store.stageAppend(id, 0, chunks(data, 100), () => undefined);
      expect(await store.stageCommit(id, digest, 500)).toEqual({ digest, size: 500 });
      expect(await store.stageSize(id)).toBeUndefined();
      const listed = [];
      for await (const b of store.list()) if (b.digest === digest) listed.push(b);
      expect(listed).toHaveLength(1);
    });

    it('serves byte ranges', async () => {
      const data = randomBytes(1000);
      const digest = await put(data);
      expect((await collect(await store.read(digest, { start: 10, end: 19 }))).equals(data.subarray(10, 20))).toBe(
        true,
      );
      expect((await collect(await store.read(digest, { start: 999, end: 999 }))).equals(data.subarray(999))).toBe(true);
    });

    it('sends a blob or a range to a writable when it offers sendTo, letting the caller veto the last chunk', async () => {
      if (!store.sendTo) return; // optional: callers fall back to read()
      const { PassThrough } = await import('node:stream');
      const data = randomBytes(3 * 1024 * 1024 + 5);
      const digest = await put(data);
      const sink = () => {
        const out = new PassThrough();
        const parts: Buffer[] = [];
        out.on('data', (c: Buffer) => parts.push(Buffer.from(c)));
        return { out, bytes: () => Buffer.concat(parts) };
      };
      const all = sink();
      let lastSeen = 0;
      await store.sendTo(digest, { start: 0, end: data.length - 1 }, all.out, (_c, last) => (lastSeen += last ? 1 : 0));
      expect(all.bytes().equals(data)).toBe(true);
      expect(lastSeen).toBe(1);
      const part = sink();
      await store.sendTo(digest, { start: 1000, end: 1999 }, part.out);
      expect(part.bytes().equals(data.subarray(1000, 2000))).toBe(true);
      const vetoed = sink();
      await expect(
        store.sendTo(digest, { start: 0, end: data.length - 1 }, vetoed.out, (_c, last) => {
          if (last) throw new Error('digest mismatch');
        }),
      ).rejects.toThrow('digest mismatch');
      expect(vetoed.bytes().length).toBeLessThan(data.length);
      await expect(store.sendTo(sha256(Buffer.from('absent')), undefined, sink().out)).rejects.toBeInstanceOf(
        BlobNotFound,
      );
    });

    it('handles sha512 digests and empty blobs', async () => {
      const data = randomBytes(300);
      const d512 = await put(data, sha512(data));
      expect(await store.stat(d512)).toEqual({ digest: d512, size: 300 });
      const empty = await put(Buffer.alloc(0));
      expect(await store.stat(empty)).toEqual({ digest: empty, size: 0 });
      expect((await collect(await store.read(empty))).length).toBe(0);
    });

    it('lists and deletes blobs', async () => {
      const d1 = await put(randomBytes(10));
      const d2 = await put(randomBytes(20));
      const listed = new Map<string, number>();
      for await (const b of store.list()) listed.set(b.digest, b.size);
      expect(listed.get(d1)).toBe(10);
      expect(listed.get(d2)).toBe(20);
      expect(await store.delete(d1)).toBe(true);
      expect(await store.delete(d1)).toBe(false);
      expect(await store.stat(d1)).toBeUndefined();
      await expect(store.read(d1)).rejects.toBeInstanceOf(BlobNotFound);
    });

    it('lists and deletes staged uploads', async () => {
      const id = newId();
      await store.stageCreate(id);
      await store.stageAppend(id, 0, chunks(randomBytes(42), 42), () => undefined);
      const staged = [];
      for await (const s of store.stageList()) staged.push(s);
      expect(staged).toEqual([expect.objectContaining({ id, size: 42 })]);
      expect(staged[0]!.modifiedAt.getTime()).toBeGreaterThan(Date.now() - 60_000);
      await store.stageDelete(id);
      await store.stageDelete(id);
      expect(await store.stageSize(id)).toBeUndefined();
      await expect(store.stageAppend(id, 0, chunks(Buffer.from('x'), 1), () => undefined)).rejects.toBeInstanceOf(
        BlobNotFound,
      );
      await expect(store.stageRead(id)).rejects.toBeInstanceOf(BlobNotFound);
      await expect(store.stageCommit(id, sha256(Buffer.from('x')), 1)).rejects.toBeInstanceOf(BlobNotFound);
    });

    it('refuses ids and digests that could escape its namespace', async () => {
      await expect(store.stageCreate('../evil')).rejects.toThrow();
      await expect(store.stageCreate('a/b')).rejects.toThrow();
      await expect(store.stat('sha256:../../etc/passwd')).rejects.toThrow();
      await expect(store.read('md5:abc')).rejects.toThrow();
    });

    it('runs appends to different uploads concurrently without mixing them', async () => {
      const datas = [randomBytes(2_000_000), randomBytes(3_000_000), randomBytes(1_000_000)];
      const ids = datas.map(() => newId());
      await Promise.all(ids.map((id) => store.stageCreate(id)));
      await Promise.all(ids.map((id, i) => store.stageAppend(id, 0, chunks(datas[i]!, 65536), () => undefined)));
      for (let i = 0; i < ids.length; i++) {
        expect((await collect(await store.stageRead(ids[i]!))).equals(datas[i]!)).toBe(true);
      }
    });

    /** Nothing of a write is left anywhere: no blob, no staged upload, no unfinished write. */
    async function leftovers(): Promise<unknown[]> {
      const found: unknown[] = [];
      for await (const b of store.list()) found.push({ digest: b.digest, size: b.size });
      for await (const u of store.stageList()) found.push({ staged: u.id });
      const unfinished = (await store.sweepUnfinished?.(0)) ?? 0;
      if (unfinished) found.push({ unfinished });
      return found;
    }

    it('writes a whole blob of known digest in one pass, visible only once published', async () => {
      // Over two of S3's 8 MiB parts, in odd pieces: the parts are numbered and joined in order.
      const data = randomBytes(19 * 1024 * 1024 + 3);
      const digest = sha256(data);
      const seen = createHash('sha256');
      const pending = await store.writeBlob(digest, chunks(data, 65_537), (c) => seen.update(c));
      expect(pending.result).toEqual({ size: data.length });
      expect(`sha256:${seen.digest('hex')}`).toBe(digest);
      expect(await store.stat(digest)).toBeUndefined();
      expect(await pending.publish()).toEqual({ digest, size: data.length });
      expect((await collect(await store.read(digest))).equals(data)).toBe(true);
      expect(await leftovers()).toEqual([{ digest, size: data.length }]);
    });

    it('writes small, empty and sha512 blobs whole too', async () => {
      for (const [data, digest] of [
        [Buffer.from('tiny'), sha256(Buffer.from('tiny'))],
        [Buffer.alloc(0), sha256(Buffer.alloc(0))],
        [Buffer.from('long digest'), sha512(Buffer.from('long digest'))],
      ] as const) {
        const pending = await store.writeBlob(digest, chunks(data, 3), () => undefined);
        expect(await store.stat(digest)).toBeUndefined();
        await pending.publish();
        expect(await store.stat(digest)).toEqual({ digest, size: data.length });
        expect((await collect(await store.read(digest))).equals(data)).toBe(true);
      }
    });

    it('leaves nothing behind a discarded write, whether its source ended or failed', async () => {
      const data = randomBytes(9 * 1024 * 1024);
      const whole = await store.writeBlob(sha256(data), chunks(data, 1 << 20), () => undefined);
      await whole.discard();
      const cut = await store.writeBlob(
        sha256(data),
        failingAfter(data.subarray(0, 6 << 20), 1 << 20),
        () => undefined,
      );
      expect(cut.result).toMatchObject({ failed: 'source', error: expect.any(Error) });
      await cut.discard();
      expect(await store.stat(sha256(data))).toBeUndefined();
      expect(await leftovers()).toEqual([]);
    });

    it('keeps a stored copy of the same size when the same blob is written again (deduplication)', async () => {
      const data = randomBytes(1000);
      const digest = await put(data);
      const again = await store.writeBlob(digest, chunks(data, 100), () => undefined);
      expect(await again.publish()).toEqual({ digest, size: 1000 });
      expect((await collect(await store.read(digest))).equals(data)).toBe(true);
      expect(await leftovers()).toEqual([{ digest, size: 1000 }]);
    });

    it('lets the janitor remove a write nobody finished (a process killed mid-push), not one in progress', async () => {
      if (!store.sweepUnfinished) return;
      const data = randomBytes(9 * 1024 * 1024);
      await store.writeBlob(sha256(data), chunks(data, 1 << 20), () => undefined);
      // Fresh: an hour's idle time has not passed.
      expect(await store.sweepUnfinished(3_600_000)).toBe(0);
      await new Promise((r) => setTimeout(r, 1100));
      expect(await store.sweepUnfinished(1000)).toBeGreaterThanOrEqual(1);
      expect(await leftovers()).toEqual([]);
    });
  });
}
