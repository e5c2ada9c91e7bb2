import { Pipeline } from './pipeline';
import type {
  BlobCommitIntent,
  BlobDeleteIntent,
  BlobMountIntent,
  BlobRead,
  CompromiseMark,
  ManifestDeleteIntent,
  ManifestPushed,
  ManifestPutIntent,
  ManifestRead,
  StageMoved,
  StageMoveIntent,
  UploadBeginIntent,
} from './intents';

/** Every operation's checks and effects: features register here, once, at start-up. */
export class RegistryHooks {
  readonly manifestPut = new Pipeline<ManifestPutIntent, ManifestPushed>('manifest.put');
  readonly manifestGet = new Pipeline<ManifestRead, ManifestRead>('manifest.get');
  readonly manifestDelete = new Pipeline<ManifestDeleteIntent, ManifestDeleteIntent>('manifest.delete');
  readonly uploadBegin = new Pipeline<UploadBeginIntent, never>('upload.begin');
  readonly blobCommit = new Pipeline<BlobCommitIntent, BlobCommitIntent>('blob.commit');
  readonly blobMount = new Pipeline<BlobMountIntent, BlobMountIntent>('blob.mount');
  readonly blobDelete = new Pipeline<BlobDeleteIntent, BlobDeleteIntent>('blob.delete');
  readonly blobGet = new Pipeline<BlobRead, BlobRead>('blob.get');
  readonly stageMove = new Pipeline<StageMoveIntent, StageMoved>('stage.move');
  readonly compromise = new Pipeline<CompromiseMark, CompromiseMark>('artifact.compromise');

  /** The hooks of every operation in the order they run. */
  describe(): Record<string, { checks: string[]; effects: string[] }> {
    const all = [
      this.manifestPut,
      this.manifestGet,
      this.manifestDelete,
      this.uploadBegin,
      this.blobCommit,
      this.blobMount,
      this.blobDelete,
      this.blobGet,
      this.stageMove,
      this.compromise,
    ];
    return Object.fromEntries(all.map((p) => [p.operation, p.describe()]));
  }
}
