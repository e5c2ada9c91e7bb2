import path from 'node:path';
import type { BlobStore } from './blob-store';
import { FsBlobStore } from './fs-blob-store';

/** `file:///absolute/path`; S3-compatible storage (`s3://bucket?endpoint=…`) arrives with issue 3. */
export function createBlobStore(url: string): BlobStore {
  if (url.startsWith('file://')) return new FsBlobStore(path.resolve(url.slice('file://'.length)));
  if (url.startsWith('s3://')) throw new Error('S3 storage is not available yet (CAIRN_STORAGE=s3://…); use file://');
  throw new Error(`unsupported storage: ${url}`);
}
