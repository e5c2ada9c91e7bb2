import path from 'node:path';
import { MediaTypes } from '../oci/media-types';
import { ArtifactTypes as ServerArtifactTypes, FILEPATH_ANNOTATIONS } from '../artifacts/media-types';

/** The media types `cairn push` writes (CNCF ModelPack for models, Cairn's own for datasets): the registry's own. */
export const ArtifactTypes = {
  ...ServerArtifactTypes,
  ociManifest: MediaTypes.ociManifest,
  ociIndex: MediaTypes.ociIndex,
} as const;

/** What a client that reads manifests accepts (an index is recognised to refuse it clearly). */
export const MANIFEST_ACCEPT = [
  ArtifactTypes.ociManifest,
  ArtifactTypes.ociIndex,
  MediaTypes.dockerManifest,
  MediaTypes.dockerManifestList,
].join(', ');

/** The layer annotations that name a layer's file; CRI-O image volumes and `cairn pull` use them. */
export const [FILEPATH_ANNOTATION, LEGACY_FILEPATH_ANNOTATION, TITLE_ANNOTATION] = FILEPATH_ANNOTATIONS;

const CODE = new Set(['.py', '.ipynb', '.sh', '.js', '.ts', '.go', '.r']);
const CONFIG = new Set(['.json', '.yaml', '.yml', '.txt', '.model', '.vocab']);
const DOC_EXT = new Set(['.md', '.pdf']);

/**
 * The ModelPack layer type of a model file, by kind. Anything not recognised is treated as weights:
 * the cautious choice, since weights are what consumers must never miss.
 */
export function modelLayerType(relPath: string): string {
  const base = path.posix.basename(relPath);
  const ext = path.posix.extname(base).toLowerCase();
  if (/^(readme|license|licence)/i.test(base) || DOC_EXT.has(ext)) return ArtifactTypes.modelDoc;
  if (CODE.has(ext)) return ArtifactTypes.modelCode;
  if (CONFIG.has(ext)) return ArtifactTypes.modelWeightConfig;
  return ArtifactTypes.modelWeight;
}
