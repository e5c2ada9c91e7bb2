import type { ParsedManifest } from '../oci/manifest-parser';
import type { SchemaProblem } from './schemas';
import { extractMetadata, type MetadataProblem, type ArtifactMetadata } from './metadata';

/** The message the registry refuses an invalid config with; `cairn policy check` prints the same. */
export function configProblemMessage(configType: string, problems: SchemaProblem[]): string {
  return `config (${configType}) is invalid: ${problems.map((x) => `${x.field} ${x.message}`).join('; ')}`;
}

export function metadataProblemMessage(p: MetadataProblem): string {
  return `${p.field}: ${p.message}`;
}

/** The metadata of a parsed manifest and its config document; throws MetadataProblem. */
export function metadataOfManifest(
  p: ParsedManifest,
  config: unknown,
  pushedBy: string,
  ci?: Record<string, string>,
): ArtifactMetadata {
  const configType = p.config?.mediaType;
  return extractMetadata({
    mediaType: p.mediaType,
    // For an image manifest without artifactType, the parser reports the config type as artifactType.
    artifactType: p.artifactType === configType ? undefined : p.artifactType,
    configMediaType: configType,
    config,
    annotations: p.annotations,
    layers: p.layers ?? [],
    pushedBy,
    ...(ci ? { ci } : {}),
  });
}
