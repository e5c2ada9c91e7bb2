import { OciError } from '../oci/errors';
import { digestOf } from '../oci/digest';
import { parseManifest, type ParsedManifest } from '../oci/manifest-parser';
import type { GovernanceRules } from '../policy/governance';
import { approvalReadiness } from '../policy/lifecycle-rules';
import { CONFIG_SCHEMAS, validateConfig, type SchemaProblem } from './schemas';
import { extractMetadata, MetadataProblem, type ArtifactMetadata } from './metadata';

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

export interface CheckResult {
  digest?: string;
  metadata?: ArtifactMetadata;
  /** What the registry would refuse on push (MANIFEST_INVALID). */
  errors: string[];
  /** What would stop the artifact from being approved under the governance rules. */
  approval: string[];
}

/**
 * Runs, on a manifest and its config, the checks the registry runs on push and on approval, with the
 * same messages: `cairn policy check` in a pre-commit hook or CI step fails before anything is pushed.
 */
export function checkArtifact(input: {
  manifest: Buffer;
  config?: Buffer;
  repository: string;
  rules: GovernanceRules;
  publisher?: string;
}): CheckResult {
  const out: CheckResult = { errors: [], approval: [] };
  let parsed;
  try {
    parsed = parseManifest(input.manifest, undefined);
  } catch (err) {
    if (err instanceof OciError)
      return { ...out, errors: [err.message + (err.detail ? ` ${JSON.stringify(err.detail)}` : '')] };
    throw err;
  }
  out.digest = digestOf(input.manifest);
  const configType = parsed.config?.mediaType;
  let config: unknown;
  if (configType && configType in CONFIG_SCHEMAS) {
    if (!input.config) out.errors.push(`config (${configType}) not given: give it to check it against its schema`);
    else if (digestOf(input.config) !== parsed.config!.digest)
      out.errors.push(`config bytes do not match the manifest's config digest ${parsed.config!.digest}`);
    else {
      const problems = validateConfig(configType, input.config);
      if (problems.length) out.errors.push(configProblemMessage(configType, problems));
    }
  }
  if (input.config) {
    try {
      config = JSON.parse(input.config.toString('utf8'));
    } catch {
      config = undefined;
    }
  }
  try {
    out.metadata = metadataOfManifest(parsed, config, input.publisher ?? 'local');
  } catch (err) {
    if (!(err instanceof MetadataProblem)) throw err;
    out.errors.push(metadataProblemMessage(err));
    return out;
  }
  out.approval = approvalReadiness(input.rules, input.repository, out.metadata).map((p) => p.message);
  return out;
}
