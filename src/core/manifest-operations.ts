import { createHash } from 'node:crypto';
import { OciError } from '../oci/errors';
import { digestOf, tryParseDigest } from '../oci/digest';
import { parseManifest } from '../oci/manifest-parser';
import { MissingReferences, type Catalog } from '../catalog/catalog';
import type { BlobStore } from '../storage/blob-store';
import { readSmallBlob } from '../storage/read-small';
import type { Actor } from './actor';
import type { RegistryHooks } from './hooks';
import type { CheckStage } from './pipeline';
import type { ManifestDeleteIntent, ManifestPushed, ManifestPutIntent, ManifestRead } from './intents';
import { lookupReference, parseReference } from './references';
import type { ReadThrough } from './read-through';

export interface ManifestStores {
  catalog: Catalog;
  blobs: BlobStore;
}

type EffectErrors = (operation: string, effect: string, err: unknown) => void;

export interface ManifestInput {
  repository: string;
  /** The tag or digest the manifest is pushed under. */
  reference: string;
  content: Buffer;
  /** The Content-Type the client sent, if any. */
  contentType?: string;
  /** A pull-through cache's copy, whose layers and child manifests are fetched when first read. */
  lazy?: boolean;
}

/** A blob of `repository` read whole and checked against its digest: a config altered at rest is not believed. */
async function readLinkedBlob(
  s: ManifestStores,
  repository: string,
  digest: string,
  max: number,
): Promise<Buffer | undefined> {
  if (!(await s.catalog.getBlobLink(repository, digest))) {
    throw new OciError('MANIFEST_BLOB_UNKNOWN', 'manifest references content the repository does not have', {
      repository,
      blobs: [digest],
    });
  }
  const bytes = await readSmallBlob(s.blobs, digest, max);
  if (!bytes) return undefined;
  const [algorithm, hex] = digest.split(':') as [string, string];
  if (createHash(algorithm).update(bytes).digest('hex') !== hex)
    throw new OciError('MANIFEST_INVALID', 'the stored blob does not match its digest; push it again', { digest });
  return bytes;
}

/** Parses a pushed manifest and checks its digest against the reference: the intent the checks run on. */
export function manifestIntent(
  input: ManifestInput,
  lookups: Pick<ManifestPutIntent, 'isNew' | 'readBlob'> & { previous?: string },
): ManifestPutIntent {
  const ref = parseReference(input.reference);
  const parsed = parseManifest(input.content, input.contentType);
  const algorithm = 'digest' in ref ? tryParseDigest(ref.digest)!.algorithm : 'sha256';
  const digest = digestOf(input.content, algorithm);
  if ('digest' in ref && ref.digest !== digest) {
    throw new OciError('DIGEST_INVALID', 'manifest content does not match the digest in the URL', {
      expected: ref.digest,
      actual: digest,
    });
  }
  return {
    repository: input.repository,
    digest,
    ...('tag' in ref ? { tag: ref.tag } : {}),
    content: input.content,
    parsed,
    ...(lookups.previous ? { previous: lookups.previous } : {}),
    isNew: lookups.isNew,
    readBlob: lookups.readBlob,
  };
}

/**
 * Runs the push checks of the given stages on a manifest, writing nothing: `cairn policy check` runs the
 * validation stage on local files, with `readBlob` reading them instead of the repository.
 */
export async function checkManifest(
  hooks: RegistryHooks,
  actor: Actor,
  input: ManifestInput,
  readBlob: ManifestPutIntent['readBlob'],
  stages: readonly CheckStage[],
): Promise<ManifestPutIntent> {
  const intent = manifestIntent(input, { isNew: async () => true, readBlob });
  await hooks.manifestPut.runChecks(intent, actor, stages);
  return intent;
}

/** Put, get and delete of manifests and tags: checks, the catalog write, then the effects. */
export class ManifestOperations {
  private readThrough: ReadThrough | undefined;

  constructor(
    private readonly s: ManifestStores,
    private readonly hooks: RegistryHooks,
    private readonly onEffectError: EffectErrors,
  ) {}

  /** Stores a manifest (and moves its tag): every check first, nothing written if one refuses. */
  async put(actor: Actor, input: ManifestInput): Promise<ManifestPushed> {
    const { catalog } = this.s;
    const ref = parseReference(input.reference);
    const previous = 'tag' in ref ? (await catalog.getManifest(input.repository, ref.tag))?.digest : undefined;
    const intent = manifestIntent(input, {
      ...(previous ? { previous } : {}),
      isNew: async () => previous !== intent.digest && !(await catalog.getManifest(input.repository, intent.digest)),
      readBlob: (digest, max) => readLinkedBlob(this.s, input.repository, digest, max),
    });
    await this.hooks.manifestPut.runChecks(intent, actor);
    const artifact = intent.artifact;
    if (!artifact) throw new Error('manifest.put: no validation hook described the artifact');
    const { parsed, digest, tag } = intent;
    try {
      await catalog.putManifest(
        intent.repository,
        {
          digest,
          mediaType: parsed.mediaType,
          size: intent.content.length,
          content: intent.content,
          artifactType: parsed.artifactType,
          subject: parsed.subject?.digest,
          annotations: parsed.annotations,
          blobs: parsed.blobs,
          manifests: parsed.manifests,
          artifact,
          ...(input.lazy ? { lazy: true } : {}),
        },
        tag,
      );
    } catch (err) {
      if (err instanceof MissingReferences) {
        throw new OciError('MANIFEST_BLOB_UNKNOWN', 'manifest references content the repository does not have', {
          repository: intent.repository,
          ...(err.blobs.length ? { blobs: err.blobs } : {}),
          ...(err.manifests.length ? { manifests: err.manifests } : {}),
        });
      }
      throw err;
    }
    const done: ManifestPushed = {
      repository: intent.repository,
      digest,
      ...(tag ? { tag } : {}),
      parsed,
      size: intent.content.length,
      ...(previous ? { previous } : {}),
      artifact,
    };
    await this.hooks.manifestPut.runEffects(done, actor, this.onEffectError);
    return done;
  }

  /** Reads of the repositories it covers go through it first (a pull-through cache). */
  readThroughTo(readThrough: ReadThrough): void {
    this.readThrough = readThrough;
  }

  /** Reads a manifest for GET or HEAD, after the read checks (lifecycle, trust) let it be served. */
  async get(actor: Actor, repository: string, reference: string, head: boolean): Promise<ManifestRead> {
    lookupReference(reference);
    if (this.readThrough?.covers(repository)) await this.readThrough.manifest(repository, reference);
    const manifest = await this.s.catalog.getManifest(repository, reference);
    if (!manifest) throw await this.unknown(repository, reference);
    const read: ManifestRead = { repository, reference, manifest, head, findings: {} };
    await this.hooks.manifestGet.runChecks(read, actor);
    if (!head) await this.hooks.manifestGet.runEffects(read, actor, this.onEffectError);
    return read;
  }

  /** By digest: the manifest and its tags; by tag: only the tag. */
  async delete(actor: Actor, repository: string, reference: string): Promise<ManifestDeleteIntent> {
    const ref = lookupReference(reference);
    const { catalog } = this.s;
    const intent: ManifestDeleteIntent =
      'digest' in ref
        ? { repository, digest: ref.digest }
        : { repository, tag: ref.tag, ...(await this.tagged(repository, ref.tag)) };
    await this.hooks.manifestDelete.runChecks(intent, actor);
    const deleted =
      'digest' in ref
        ? await catalog.deleteManifest(repository, ref.digest)
        : await catalog.deleteTag(repository, ref.tag);
    if (!deleted) throw await this.unknown(repository, reference);
    await this.hooks.manifestDelete.runEffects(intent, actor, this.onEffectError);
    return intent;
  }

  private async tagged(repository: string, tag: string): Promise<{ tagged?: string }> {
    const digest = (await this.s.catalog.getManifest(repository, tag))?.digest;
    return digest ? { tagged: digest } : {};
  }

  private async unknown(repository: string, reference: string): Promise<OciError> {
    if (!(await this.s.catalog.repositoryExists(repository)))
      return new OciError('NAME_UNKNOWN', 'repository name not known to registry', { repository });
    return new OciError('MANIFEST_UNKNOWN', 'manifest unknown', { repository, reference });
  }
}
