import path from 'node:path';
import type { BlobStore } from './blob-store';
import { FsBlobStore } from './fs-blob-store';

import { RoutedBlobStore } from './routed-blob-store';
import { repositoryMatches } from '../oci/repository-pattern';

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

/**
 * The configured storage: one backend, or with `storage.routes` one per route plus the default, routed by
 * repository (routed-blob-store.ts).
 */
export function createStorage(url: string, routes: { name: string; repositories: string[]; url: string }[]): BlobStore {
  const fallback = createBlobStore(url);
  if (!routes.length) return fallback;
  return new RoutedBlobStore(
    fallback,
    routes.map((r) => ({
      name: r.name,
      matches: (repository: string) => r.repositories.some((p) => repositoryMatches(p, repository)),
      store: createBlobStore(r.url),
    })),
  );
}
