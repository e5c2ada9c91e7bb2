import { S3BlobStore } from '../../src/storage/s3-blob-store';
import { testS3, uniqueBucket } from '../helpers/s3';
import { blobStoreContract } from './blob-store.contract';

// A real S3: the Ceph RGW that test/helpers/global-setup.ts started (required when CI=true).
const s3 = testS3();
if (!s3) console.warn('no Ceph RGW in this run: the S3 contract tests do not run here (they do in CI)');

(s3 ? describe : describe.skip)('S3 blob store on Ceph RGW', () => {
  blobStoreContract('S3 (Ceph RADOS Gateway)', async () => {
    // A bucket per test, made by init(): also checks that a missing bucket is created.
    const store = new S3BlobStore({
      endpoint: s3!.endpoint,
      bucket: uniqueBucket(),
      accessKey: s3!.accessKey,
      secretKey: s3!.secretKey,
      prefix: 'reg/',
    });
    return { store, cleanup: async () => {} };
  });

  it('is selected by an s3:// URL with credentials from AWS_* variables', async () => {
    const store = S3BlobStore.fromUrl(`s3://${uniqueBucket()}?endpoint=${encodeURIComponent(s3!.endpoint)}&prefix=p/`, {
      AWS_ACCESS_KEY_ID: s3!.accessKey,
      AWS_SECRET_ACCESS_KEY: s3!.secretKey,
    });
    await store.init();
    expect(store.kind).toBe('s3');
    expect(await store.stat(`sha256:${'0'.repeat(64)}`)).toBeUndefined();
    expect(() => S3BlobStore.fromUrl('s3://b?endpoint=http://x', {})).toThrow(/AWS_ACCESS_KEY_ID/);
    expect(() => S3BlobStore.fromUrl('s3://b', { AWS_ACCESS_KEY_ID: 'a', AWS_SECRET_ACCESS_KEY: 'b' })).toThrow(
      /endpoint/,
    );
  });
});
