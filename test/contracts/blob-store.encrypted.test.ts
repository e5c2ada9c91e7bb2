import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createCatalog, createDataKeyStore } from '../../src/catalog';
import { KeyRing } from '../../src/keys/key-ring';
import { FileKeyEncryptionKey } from '../../src/keys/key-encryption';
import { randomBytes } from 'node:crypto';
import { EncryptingBlobStore } from '../../src/storage/encrypting-blob-store';
import { FsBlobStore } from '../../src/storage/fs-blob-store';
import { S3BlobStore } from '../../src/storage/s3-blob-store';
import type { BlobStore } from '../../src/storage/blob-store';
import { testS3, uniqueBucket } from '../helpers/s3';
import { blobStoreContract } from './blob-store.contract';

/** The encrypting store over a real inner store, its data keys in a SQLite catalog of its own. */
async function encrypted(inner: BlobStore, cleanupInner: () => Promise<void>) {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'cairn-enc-'));
  const catalog = createCatalog(`sqlite://${path.join(dir, 'cairn.db')}`);
  await catalog.init();
  const ring = new KeyRing(new FileKeyEncryptionKey(randomBytes(32)));
  return {
    store: new EncryptingBlobStore(inner, createDataKeyStore(catalog), ring),
    cleanup: async () => {
      await catalog.close();
      await rm(dir, { recursive: true, force: true });
      await cleanupInner();
    },
  };
}

blobStoreContract('file system, encrypted', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'cairn-fs-'));
  return encrypted(new FsBlobStore(dir), () => rm(dir, { recursive: true, force: true }));
});

const s3 = testS3();
(s3 ? describe : describe.skip)('S3 blob store on Ceph RGW, encrypted', () => {
  blobStoreContract('S3 (Ceph RADOS Gateway), encrypted', async () =>
    encrypted(
      new S3BlobStore({
        endpoint: s3!.endpoint,
        bucket: uniqueBucket(),
        accessKey: s3!.accessKey,
        secretKey: s3!.secretKey,
        prefix: 'reg/',
      }),
      async () => undefined,
    ),
  );
});
