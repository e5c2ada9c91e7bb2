import { createHash } from 'node:crypto';
import { OciError } from '../oci/errors';
import { readSmallBlob } from '../storage/read-small';
import type { ArtifactRecord } from '../catalog/catalog';
import type { ParsedManifest } from '../oci/manifest-parser';
import type { Services } from '../distribution/services';
import type { RequestContext } from '../http/context';
import { classify } from './media-types';
import { CONFIG_SCHEMAS, validateConfig } from './schemas';
import { lineageEdges, MetadataProblem, type ArtifactMetadata } from './metadata';
import { configProblemMessage, metadataOfManifest, metadataProblemMessage } from './check';

/** A config larger than this is not a config: refused for the types Cairn validates, ignored otherwise. */
export const MAX_CONFIG_BYTES = 1 << 20;

async function readConfig(
  s: Services,
  repository: string,
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
  if (!(await s.catalog.getBlobLink(repository, digest))) {
    throw new OciError('MANIFEST_BLOB_UNKNOWN', 'manifest references content the repository does not have', {
      repository,
      blobs: [digest],
    });
  }
  const bytes = await readSmallBlob(s.blobs, digest, MAX_CONFIG_BYTES);
  if (!bytes) return undefined;
  // The stored bytes are checked like any read: a config altered at rest must not be believed.
  const [algorithm, hex] = digest.split(':') as [string, string];
  if (createHash(algorithm).update(bytes).digest('hex') !== hex)
    throw new OciError('MANIFEST_INVALID', 'the stored config does not match its digest; push it again', { digest });
  return bytes;
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
  s: Services,
  ctx: RequestContext,
  repository: string,
  p: ParsedManifest,
): Promise<{ record: ArtifactRecord; metadata: ArtifactMetadata }> {
  const configType = p.config?.mediaType;
  const { kind } = classify(p.artifactType === configType ? undefined : p.artifactType, configType, p.mediaType);
  let config: unknown;
  if (p.config && (kind === 'model' || kind === 'dataset')) {
    const validated = configType !== undefined && configType in CONFIG_SCHEMAS;
    const bytes = await readConfig(s, repository, p.config.digest, p.config.size, validated);
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
  const principal = ctx.auth?.principal;
  let metadata: ArtifactMetadata;
  try {
    const ci = principal?.federated
      ? { iss: principal.federated.issuer, sub: principal.federated.subject, ...(principal.federated.claims ?? {}) }
      : undefined;
    metadata = metadataOfManifest(p, config, principal?.id ?? 'anonymous', ci);
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
