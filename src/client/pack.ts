import { createHash } from 'node:crypto';
import { ArtifactTypes, FILEPATH_ANNOTATION, modelLayerType, TITLE_ANNOTATION } from './artifact-types';
import { hashFile } from './hash-file';
import type { Reporter } from './progress';
import { manifestAnnotations, type ArtifactMetadata } from './provenance';
import { listFiles, PackError, type SourceFile } from './walk';

export type ArtifactKind = 'model' | 'dataset';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

export interface PackedLayer {
  file: SourceFile;
  descriptor: Descriptor;
}

export interface PackedArtifact {
  layers: PackedLayer[];
  config: { descriptor: Descriptor; bytes: Buffer };
  manifest: { bytes: Buffer; digest: string; mediaType: string };
}

function sha256(data: Buffer): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** Files this large get a progress line while being hashed (a 100 GB file takes a minute or more). */
const HASH_PROGRESS_MIN = 256 * 1024 * 1024;

/** Hashes every file once, streaming; the digests are then reused for the upload. */
async function hashLayers(kind: ArtifactKind, files: SourceFile[], reporter: Reporter): Promise<PackedLayer[]> {
  const layers: PackedLayer[] = [];
  for (const file of files) {
    const task = file.size >= HASH_PROGRESS_MIN ? reporter.task(`hashing ${file.relPath}`, file.size) : undefined;
    const { digest, size } = await hashFile(file.absPath, task ? (n) => task.add(n) : undefined);
    task?.finish();
    if (size !== file.size)
      throw new PackError(`${file.relPath} changed size while it was read; push again when it is complete`);
    layers.push({
      file,
      descriptor: {
        mediaType: kind === 'model' ? modelLayerType(file.relPath) : ArtifactTypes.datasetFile,
        digest,
        size,
        annotations: { [TITLE_ANNOTATION]: file.relPath, [FILEPATH_ANNOTATION]: file.relPath },
      },
    });
  }
  return layers;
}

const defined = <T extends Record<string, unknown>>(o: T): Partial<T> =>
  Object.fromEntries(
    Object.entries(o).filter(([, v]) => v !== undefined && !(Array.isArray(v) && v.length === 0)),
  ) as Partial<T>;

/** The CNCF ModelPack config: descriptor, config and modelfs, nothing else (the registry validates it). */
export function modelConfig(meta: ArtifactMetadata, layers: PackedLayer[]): object {
  return {
    descriptor: defined({
      name: meta.name,
      version: meta.version,
      authors: meta.authors,
      licenses: meta.licenses,
      createdAt: meta.createdAt,
      sourceURL: meta.source,
      revision: meta.revision,
      description: meta.description,
    }),
    config: defined({
      format: meta.format,
      architecture: meta.architecture,
      paramSize: meta.paramSize,
      precision: meta.precision,
    }),
    // ModelPack's wire form is its Go types' (camelCase), not its prose's snake_case.
    modelfs: { type: 'layers', diffIds: layers.map((l) => l.descriptor.digest) },
  };
}

/** Cairn's dataset config; only `x-…` keys may extend it. */
export function datasetConfig(meta: ArtifactMetadata, layers: PackedLayer[]): object {
  return {
    ...defined({
      name: meta.name,
      version: meta.version,
      description: meta.description,
      createdAt: meta.createdAt,
      creators: meta.authors,
      licenses: meta.licenses,
      format: meta.format,
      records: meta.records,
      sources: meta.sources,
      derivedFrom: meta.derivedFrom,
      preprocessing: meta.preprocessing.map((s) => defined({ ...s })),
      splits: meta.splits,
    }),
    files: layers.map((l) => ({ path: l.file.relPath, digest: l.descriptor.digest, size: l.descriptor.size })),
    ...meta.extensions,
  };
}

/**
 * Turns a directory into an OCI image manifest with one raw layer per file (sorted by path), a typed
 * config and provenance annotations. `meta` must already carry lineage references resolved to digests.
 */
export async function packDirectory(
  kind: ArtifactKind,
  dir: string,
  meta: ArtifactMetadata,
  reporter: Reporter,
): Promise<PackedArtifact> {
  const files = await listFiles(dir);
  if (files.length === 0) throw new PackError(`nothing to push: ${dir} holds no files`);
  return packFiles(kind, files, meta, reporter);
}

/** packDirectory for files already listed. */
export async function packFiles(
  kind: ArtifactKind,
  files: SourceFile[],
  meta: ArtifactMetadata,
  reporter: Reporter,
): Promise<PackedArtifact> {
  const layers = await hashLayers(kind, files, reporter);
  const configJson = kind === 'model' ? modelConfig(meta, layers) : datasetConfig(meta, layers);
  const configBytes = Buffer.from(JSON.stringify(configJson));
  const config: Descriptor = {
    mediaType: kind === 'model' ? ArtifactTypes.modelConfig : ArtifactTypes.datasetConfig,
    digest: sha256(configBytes),
    size: configBytes.length,
  };
  const annotations = manifestAnnotations(meta);
  const manifest = {
    schemaVersion: 2,
    mediaType: ArtifactTypes.ociManifest,
    artifactType: kind === 'model' ? ArtifactTypes.modelManifest : ArtifactTypes.datasetManifest,
    config,
    layers: layers.map((l) => l.descriptor),
    ...(Object.keys(annotations).length ? { annotations } : {}),
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest));
  return {
    layers,
    config: { descriptor: config, bytes: configBytes },
    manifest: { bytes: manifestBytes, digest: sha256(manifestBytes), mediaType: ArtifactTypes.ociManifest },
  };
}
