import { OciError } from './errors';
import { tryParseDigest } from './digest';
import { IMAGE_MANIFEST_TYPES, INDEX_TYPES, MediaTypes, isNonDistributable } from './media-types';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  artifactType?: string;
  annotations?: Record<string, string>;
}

export interface ParsedManifest {
  mediaType: string;
  /** What the referrers API reports: artifactType, else (image manifests) config.mediaType. */
  artifactType?: string;
  subject?: Descriptor;
  annotations?: Record<string, string>;
  blobs: string[];
  manifests: string[];
  /** Image manifests: the config and layer descriptors, for the artifacts layer. */
  config?: Descriptor;
  layers?: Descriptor[];
}

const MEDIA_TYPE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/;

function invalid(message: string, detail?: unknown): OciError {
  return new OciError('MANIFEST_INVALID', message, detail);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function annotationsOf(v: unknown, where: string): Record<string, string> | undefined {
  if (v === undefined) return undefined;
  if (!isObject(v) || !Object.values(v).every((x) => typeof x === 'string')) {
    throw invalid(`${where}.annotations must be a map of strings`);
  }
  return v as Record<string, string>;
}

function descriptor(v: unknown, where: string): Descriptor {
  if (!isObject(v)) throw invalid(`${where} must be a descriptor object`);
  const { mediaType, digest, size, artifactType } = v;
  if (typeof mediaType !== 'string' || !MEDIA_TYPE.test(mediaType)) {
    throw invalid(`${where}.mediaType must be a media type`, { mediaType });
  }
  if (typeof digest !== 'string' || !tryParseDigest(digest)) {
    throw invalid(`${where}.digest is not a valid digest`, { digest });
  }
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    throw invalid(`${where}.size must be a non-negative integer`, { size });
  }
  if (artifactType !== undefined && (typeof artifactType !== 'string' || !MEDIA_TYPE.test(artifactType))) {
    throw invalid(`${where}.artifactType must be a media type`, { artifactType });
  }
  const annotations = annotationsOf(v.annotations, where);
  return {
    mediaType,
    digest,
    size,
    ...(artifactType !== undefined ? { artifactType: artifactType as string } : {}),
    ...(annotations ? { annotations } : {}),
  };
}

function descriptorList(v: unknown, where: string): Descriptor[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw invalid(`${where} must be an array of descriptors`);
  return v.map((d, i) => descriptor(d, `${where}[${i}]`));
}

/**
 * Validates a manifest's bytes and extracts what the catalog needs. The media type comes from the
 * manifest's own `mediaType`, else from Content-Type; when both are present they must agree, so that a
 * client can never make the registry serve bytes under a type they do not claim.
 */
export function parseManifest(bytes: Buffer, contentType: string | undefined): ParsedManifest {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw invalid('manifest is not valid JSON', { reason: (err as Error).message });
  }
  if (!isObject(doc)) throw invalid('manifest must be a JSON object');

  const headerType = contentType?.split(';')[0]!.trim().toLowerCase() || undefined;
  const bodyType: unknown = doc.mediaType;
  if (bodyType !== undefined && (typeof bodyType !== 'string' || !MEDIA_TYPE.test(bodyType))) {
    throw invalid('manifest mediaType must be a media type', { mediaType: bodyType });
  }
  const usableHeader =
    headerType && headerType !== 'application/json' && headerType !== 'application/octet-stream'
      ? headerType
      : undefined;
  if (typeof bodyType === 'string' && usableHeader !== undefined && bodyType.toLowerCase() !== usableHeader) {
    throw invalid('manifest mediaType does not match Content-Type', { mediaType: bodyType, contentType: headerType });
  }
  const mediaType = (bodyType as string | undefined) ?? usableHeader;
  if (!mediaType) {
    throw invalid('manifest media type unknown: set mediaType in the manifest or a Content-Type header');
  }
  if (mediaType === MediaTypes.dockerSchema1 || mediaType === MediaTypes.dockerSchema1Signed) {
    throw invalid('Docker schema 1 manifests are not supported; push schema 2 or OCI', { mediaType });
  }

  const annotations = annotationsOf(doc.annotations, 'manifest');
  const subject = doc.subject === undefined ? undefined : descriptor(doc.subject, 'subject');
  const artifactTypeField = doc.artifactType;
  if (
    artifactTypeField !== undefined &&
    (typeof artifactTypeField !== 'string' || !MEDIA_TYPE.test(artifactTypeField))
  ) {
    throw invalid('artifactType must be a media type', { artifactType: artifactTypeField });
  }

  if (IMAGE_MANIFEST_TYPES.has(mediaType)) {
    if (doc.schemaVersion !== 2) throw invalid('schemaVersion must be 2', { schemaVersion: doc.schemaVersion });
    const config = descriptor(doc.config, 'config');
    const layers = descriptorList(doc.layers, 'layers');
    const blobs = [config, ...layers].filter((d) => !isNonDistributable(d.mediaType)).map((d) => d.digest);
    return {
      mediaType,
      artifactType: (artifactTypeField as string | undefined) ?? config.mediaType,
      subject,
      annotations,
      blobs: [...new Set(blobs)],
      manifests: [],
      config,
      layers,
    };
  }
  if (INDEX_TYPES.has(mediaType)) {
    if (doc.schemaVersion !== 2) throw invalid('schemaVersion must be 2', { schemaVersion: doc.schemaVersion });
    if (!Array.isArray(doc.manifests)) throw invalid('an index must have a manifests array');
    const children = descriptorList(doc.manifests, 'manifests');
    return {
      mediaType,
      artifactType: artifactTypeField as string | undefined,
      subject,
      annotations,
      blobs: [],
      manifests: [...new Set(children.map((d) => d.digest))],
    };
  }
  // An unknown manifest type is stored and served as given; the registry cannot know what it references.
  return {
    mediaType,
    artifactType: artifactTypeField as string | undefined,
    subject,
    annotations,
    blobs: [],
    manifests: [],
  };
}
