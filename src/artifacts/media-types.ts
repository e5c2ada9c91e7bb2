/**
 * The ML artifact types Cairn understands. The ecosystem names the same things differently (ModelPack
 * before and after its move to the CNCF, KitOps, Docker's model runner), so each is recognised by its
 * artifactType or config media type and indexed the same way.
 */
export const ArtifactTypes = {
  modelManifest: 'application/vnd.cncf.model.manifest.v1+json',
  modelConfig: 'application/vnd.cncf.model.config.v1+json',
  cnaiModelManifest: 'application/vnd.cnai.model.manifest.v1+json',
  cnaiModelConfig: 'application/vnd.cnai.model.config.v1+json',
  kitopsConfig: 'application/vnd.kitops.modelkit.config.v1+json',
  datasetManifest: 'application/vnd.cairn.dataset.manifest.v1+json',
  datasetConfig: 'application/vnd.cairn.dataset.config.v1+json',
  datasetFile: 'application/vnd.cairn.dataset.file.v1.raw',
  modelWeight: 'application/vnd.cncf.model.weight.v1.raw',
  modelWeightConfig: 'application/vnd.cncf.model.weight.config.v1.raw',
  modelDoc: 'application/vnd.cncf.model.doc.v1.raw',
  modelCode: 'application/vnd.cncf.model.code.v1.raw',
} as const;

export type ArtifactKind = 'model' | 'dataset' | 'image' | 'index' | 'signature' | 'attestation' | 'other';
export type ArtifactFamily = 'modelpack' | 'modelpack-cnai' | 'kitops' | 'docker-ai' | 'cairn-dataset' | 'oci';

/** Where a layer's file path is carried, newest name first. */
export const FILEPATH_ANNOTATIONS = [
  'org.cncf.model.filepath',
  'org.cnai.model.filepath',
  'org.opencontainers.image.title',
] as const;

/** Classifies a manifest by what it declares (artifactType, else the config's media type). */
export function classify(
  artifactType: string | undefined,
  configType: string | undefined,
  mediaType: string,
): { kind: ArtifactKind; family: ArtifactFamily } {
  const t = artifactType ?? configType ?? '';
  const c = configType ?? '';
  if (t === ArtifactTypes.modelManifest || c === ArtifactTypes.modelConfig)
    return { kind: 'model', family: 'modelpack' };
  if (t === ArtifactTypes.cnaiModelManifest || c === ArtifactTypes.cnaiModelConfig)
    return { kind: 'model', family: 'modelpack-cnai' };
  if (t.startsWith('application/vnd.kitops.modelkit.') || c.startsWith('application/vnd.kitops.modelkit.'))
    return { kind: 'model', family: 'kitops' };
  if (t.startsWith('application/vnd.docker.ai.') || c.startsWith('application/vnd.docker.ai.'))
    return { kind: 'model', family: 'docker-ai' };
  if (t === ArtifactTypes.datasetManifest || c === ArtifactTypes.datasetConfig)
    return { kind: 'dataset', family: 'cairn-dataset' };
  if (t.startsWith('application/vnd.dev.sigstore.bundle') || t.startsWith('application/vnd.dev.cosign.artifact.sig'))
    return { kind: 'signature', family: 'oci' };
  if (t.startsWith('application/vnd.in-toto') || t.includes('attestation'))
    return { kind: 'attestation', family: 'oci' };
  if (mediaType.includes('index') || mediaType.includes('manifest.list')) return { kind: 'index', family: 'oci' };
  if (t === 'application/vnd.oci.image.config.v1+json' || t === 'application/vnd.docker.container.image.v1+json')
    return { kind: 'image', family: 'oci' };
  return { kind: 'other', family: 'oci' };
}
