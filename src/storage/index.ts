import path from 'node:path';
import type { BlobStore } from './blob-store';
import { FsBlobStore } from './fs-blob-store';
import { S3BlobStore } from './s3-blob-store';

/** `file:///absolute/path`, or `s3://bucket?endpoint=http://host:port[&region=…&prefix=…]` with AWS_* credentials. */
export function createBlobStore(url: string): BlobStore {
  if (url.startsWith('file://')) return new FsBlobStore(path.resolve(url.slice('file://'.length)));
  if (url.startsWith('s3://')) return S3BlobStore.fromUrl(url);
  throw new Error(`unsupported storage: ${url}`);
}
