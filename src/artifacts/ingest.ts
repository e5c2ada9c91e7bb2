import { OciError } from '../oci/errors';
import type { ArtifactRecord } from '../catalog/catalog';
import type { ParsedManifest } from '../oci/manifest-parser';
import type { Actor } from '../core/actor';
import type { RegistryHooks } from '../core/hooks';
import type { ManifestPutIntent } from '../core/intents';
import { classify } from './media-types';
import { CONFIG_SCHEMAS, validateConfig } from './schemas';
import { lineageEdges, MetadataProblem, type ArtifactMetadata } from './metadata';
import { configProblemMessage, metadataOfManifest, metadataProblemMessage } from './check';

/** A config larger than this is not a config: refused for the types Cairn validates, ignored otherwise. */
export const MAX_CONFIG_BYTES = 1 << 20;

async function readConfig(
  readBlob: ManifestPutIntent['readBlob'],
  digest: string,
  size: number,
  validated: boolean,
): Promise<Buffer | undefined> {
  if (size > MAX_CONFIG_BYTES) {
    if (validated)
      throw new OciError('MANIFEST_INVALID', `config is ${size} bytes; at most ${MAX_CONFIG_BYTES} are accepted`, {
        field: 'config.size',
      });
    return undefined;
  }
  return readBlob(digest, MAX_CONFIG_BYTES);
}

function parseJson(bytes: Buffer | undefined): unknown {
  if (!bytes) return undefined;
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    return undefined;
  }
}

/**
 * On manifest PUT: recognises the artifact's kind, validates the config of a known type against its
 * published schema (MANIFEST_INVALID naming the field), and extracts the metadata and lineage edges the
 * catalog stores with the manifest. Plain images cost nothing more than their annotations.
 */
export async function artifactRecordFor(
  actor: Actor,
  p: ParsedManifest,
  readBlob: ManifestPutIntent['readBlob'],
): Promise<{ record: ArtifactRecord; metadata: ArtifactMetadata }> {
  const configType = p.config?.mediaType;
  const { kind } = classify(p.artifactType === configType ? undefined : p.artifactType, configType, p.mediaType);
  let config: unknown;
  if (p.config && (kind === 'model' || kind === 'dataset')) {
    const validated = configType !== undefined && configType in CONFIG_SCHEMAS;
    const bytes = await readConfig(readBlob, p.config.digest, p.config.size, validated);
    if (validated && bytes) {
      const problems = validateConfig(configType!, bytes);
      if (problems.length) {
        throw new OciError('MANIFEST_INVALID', configProblemMessage(configType!, problems), {
          field: problems[0]!.field,
          problems,
        });
      }
    }
    config = parseJson(bytes);
  }
  let metadata: ArtifactMetadata;
  try {
    const f = actor.federated;
    const ci = f ? { iss: f.issuer, sub: f.subject, ...(f.claims ?? {}) } : undefined;
    metadata = metadataOfManifest(p, config, actor.id, ci);
  } catch (err) {
    if (err instanceof MetadataProblem)
      throw new OciError('MANIFEST_INVALID', metadataProblemMessage(err), { field: err.field });
    throw err;
  }
  const totalSize = (p.config?.size ?? 0) + (p.layers ?? []).reduce((n, l) => n + l.size, 0);
  const record: ArtifactRecord = {
    kind: metadata.kind,
    family: metadata.family,
    ...(metadata.name ? { name: metadata.name } : {}),
    ...(metadata.version ? { version: metadata.version } : {}),
    ...(metadata.framework ? { framework: metadata.framework } : {}),
    ...(metadata.licenses.length ? { license: metadata.licenses.join(' AND ') } : {}),
    ...(metadata.sensitivity ? { sensitivity: metadata.sensitivity } : {}),
    pushedBy: metadata.pushedBy,
    totalSize,
    metadata: JSON.stringify(metadata),
    annotations: p.annotations ?? {},
    metrics: metadata.metrics,
    edges: lineageEdges(metadata, p.subject?.digest).map((e) => ({
      relation: e.relation,
      digest: e.target.digest,
      ...(e.target.repository ? { repository: e.target.repository } : {}),
    })),
  };
  return { record, metadata };
}

/**
 * The validation stage of a manifest push: the artifact's kind, its config checked against the published
 * schema, and the metadata and lineage the artifact index stores with it. `cairn policy check` runs the
 * same hook on local files.
 */
export function registerArtifactValidation(hooks: RegistryHooks): void {
  hooks.manifestPut.check('artifact', 'validation', async (m, actor) => {
    m.artifact = (await artifactRecordFor(actor, m.parsed, m.readBlob)).record;
  });
}
