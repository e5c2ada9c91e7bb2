import path from 'node:path';
import type { BlobStore } from './blob-store';
import { FsBlobStore } from './fs-blob-store';

/**
 * `file:///absolute/path`, or `s3://bucket?endpoint=http://host:port[&region=…&prefix=…]` with AWS_*
 * credentials. The S3 client is loaded only when configured: the embedded default does without it.
 */
export function createBlobStore(url: string): BlobStore {
  if (url.startsWith('file://')) return new FsBlobStore(path.resolve(url.slice('file://'.length)));
  if (url.startsWith('s3://'))
    return (require('./s3-blob-store') as typeof import('./s3-blob-store')).S3BlobStore.fromUrl(url);
  throw new Error(`unsupported storage: ${url}`);
}
