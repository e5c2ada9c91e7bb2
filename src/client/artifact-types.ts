import path from 'node:path';

/** The media types `cairn push` writes (CNCF ModelPack for models, Cairn's own for datasets). */
export const ArtifactTypes = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  modelManifest: 'application/vnd.cncf.model.manifest.v1+json',
  modelConfig: 'application/vnd.cncf.model.config.v1+json',
  modelWeight: 'application/vnd.cncf.model.weight.v1.raw',
  modelWeightConfig: 'application/vnd.cncf.model.weight.config.v1.raw',
  modelDoc: 'application/vnd.cncf.model.doc.v1.raw',
  modelCode: 'application/vnd.cncf.model.code.v1.raw',
  datasetManifest: 'application/vnd.cairn.dataset.manifest.v1+json',
  datasetConfig: 'application/vnd.cairn.dataset.config.v1+json',
  datasetFile: 'application/vnd.cairn.dataset.file.v1.raw',
} as const;

/** What a client that reads manifests accepts (an index is recognised to refuse it clearly). */
export const MANIFEST_ACCEPT = [
  ArtifactTypes.ociManifest,
  ArtifactTypes.ociIndex,
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

/** The layer annotations that name a layer's file; CRI-O image volumes and `cairn pull` use them. */
export const TITLE_ANNOTATION = 'org.opencontainers.image.title';
export const FILEPATH_ANNOTATION = 'org.cncf.model.filepath';
/** The same, from ModelPack before its CNCF rename; read, never written. */
export const LEGACY_FILEPATH_ANNOTATION = 'org.cnai.model.filepath';

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
