import type * as Minio from 'minio';
import { ByteBudget } from '../../src/storage/byte-budget';
import { S3Multipart } from '../../src/storage/s3-multipart';
import { StoredSizeMismatch } from '../../src/storage/blob-store';

/** An S3 that answers stat with what it claims to hold, and records removals. */
function fakeS3(stat: { size: number; etag: string }) {
  const removed: string[] = [];
  const client = {
    statObject: async () => stat,
    removeObject: async (_b: string, key: string) => void removed.push(key),
  } as unknown as Minio.Client;
  return { multipart: new S3Multipart(client, 'b', new ByteBudget(1024)), removed };
}

describe('the proof an S3 write ends with', () => {
  it('accepts an object of the size sent and, for multipart, of the parts sent', async () => {
    await expect(fakeS3({ size: 100, etag: 'abc' }).multipart.verify('k', 100)).resolves.toBeUndefined();
    await expect(fakeS3({ size: 100, etag: 'abc-3' }).multipart.verify('k', 100, 3)).resolves.toBeUndefined();
    // RGW answers CompleteMultipartUpload with no ETag; stat has one: either way the size decides.
    await expect(fakeS3({ size: 100, etag: '' }).multipart.verify('k', 100, 3)).resolves.toBeUndefined();
  });

  it('refuses and removes an object of another size (what the broken compose produced: the last half)', async () => {
    const { multipart, removed } = fakeS3({ size: 512, etag: 'abc-1' });
    await expect(multipart.verify('k', 1024, 2)).rejects.toBeInstanceOf(StoredSizeMismatch);
    expect(removed).toEqual(['k']);
  });

  it('refuses and removes an object assembled from fewer parts than were sent', async () => {
    const { multipart, removed } = fakeS3({ size: 1024, etag: 'abc-1' });
    await expect(multipart.verify('k', 1024, 2)).rejects.toMatchObject({
      expected: 1024,
      stored: 1024,
      message: expect.stringContaining('1 of 2 parts'),
    });
    expect(removed).toEqual(['k']);
  });
});

describe('the byte budget shared by part buffers', () => {
  it('hands out bytes in order and never more than it has', async () => {
    const budget = new ByteBudget(16);
    const order: string[] = [];
    await budget.take(10);
    const b = budget.take(10).then(() => order.push('b'));
    const c = budget.take(4).then(() => order.push('c'));
    await new Promise((r) => setImmediate(r));
    // c would fit, but b came first: no starving a large request.
    expect(order).toEqual([]);
    budget.give(10);
    await Promise.all([b, c]);
    expect(order).toEqual(['b', 'c']);
  });
  it('lets a request larger than the whole budget through alone', async () => {
    const budget = new ByteBudget(8);
    await budget.take(100);
    let second = false;
    const p = budget.take(1).then(() => (second = true));
    await new Promise((r) => setImmediate(r));
    expect(second).toBe(false);
    budget.give(100);
    await p;
    expect(second).toBe(true);
  });
});
