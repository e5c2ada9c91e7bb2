import { randomUUID } from 'node:crypto';
import type { BlobStore, PendingBlob } from './blob-store';

/**
 * writeBlob for a store whose staging costs no copy (the file system renames a staged file into place):
 * stage under a fresh id, publish by stageCommit.
 */
export async function writeThroughStaging(
  store: Pick<BlobStore, 'stageCreate' | 'stageAppend' | 'stageCommit' | 'stageDelete'>,
  digest: string,
  source: AsyncIterable<Buffer>,
  onWritten: (chunk: Buffer) => void,
): Promise<PendingBlob> {
  const id = randomUUID();
  await store.stageCreate(id);
  let result;
  try {
    result = await store.stageAppend(id, 0, source, onWritten);
  } catch (err) {
    await store.stageDelete(id).catch(() => undefined);
    throw err;
  }
  return {
    result,
    publish: () => store.stageCommit(id, digest, result.size),
    discard: () => store.stageDelete(id),
  };
}
