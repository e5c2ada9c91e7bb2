import path from 'node:path';
import { configDir, resolveCredentials } from './credentials';
import { resolveLineageReference } from './lineage';
import { packFiles, type ArtifactKind } from './pack';
import { formatBytes, type Reporter } from './progress';
import { loadProjectFile } from './project-file';
import { resolveMetadata, type MetadataFlags } from './provenance';
import { parseReference, ReferenceError } from './reference';
import { expectOk, RegistryClient, registryErrorOf } from './registry-client';
import { DEFAULT_CHUNK_SIZE, uploadBlob } from './upload';
import { listFiles, PackError } from './walk';

export interface PushOptions extends MetadataFlags {
  /** Bytes per PATCH of a chunked upload; files up to this size go in one request. */
  chunkSize?: number;
  plainHttp?: boolean;
}

export interface PushResult {
  repository: string;
  digest: string;
  files: number;
  uploaded: number;
  bytesUploaded: number;
}

function checkKindFlags(kind: ArtifactKind, opts: PushOptions): void {
  if (kind === 'dataset' && (opts.dataset?.length || opts.baseModel)) {
    throw new PackError(
      '--dataset and --base-model describe what a model was trained on; a dataset names its parents with --derived-from',
    );
  }
  if (kind === 'model' && opts.derivedFrom?.length) {
    throw new PackError(
      '--derived-from is for datasets; a model names its training data with --dataset and its parent with --base-model',
    );
  }
}

/**
 * `cairn push model|dataset <dir> <reference>`: packs the directory (one layer per file), uploads what
 * the registry does not have yet (resumably), then the config and the manifest under the tag.
 */
export async function pushDirectory(
  kind: ArtifactKind,
  dir: string,
  reference: string,
  opts: PushOptions,
  reporter: Reporter,
  env: NodeJS.ProcessEnv = process.env,
): Promise<PushResult> {
  const ref = parseReference(reference, { plainHttp: opts.plainHttp });
  if (ref.digest)
    throw new ReferenceError(
      `"${reference}": push to a tag (${ref.registry}/${ref.repository}:<tag>); the digest is computed from the content`,
    );
  if (!ref.tag)
    throw new ReferenceError(
      `"${reference}" has no tag; add one, e.g. ${ref.registry}/${ref.repository}:v1 (Cairn does not assume "latest")`,
    );
  checkKindFlags(kind, opts);
  // Cheap checks on the input before any network traffic or hashing.
  const files = await listFiles(dir);
  if (files.length === 0) throw new PackError(`nothing to push: ${dir} holds no files`);
  const file = await loadProjectFile(dir);
  const meta = resolveMetadata({ flags: opts, file, env, defaultName: ref.repository.split('/').pop()! });

  const credentials = await resolveCredentials(ref.registry, env);
  const client = new RegistryClient({ baseUrl: ref.baseUrl, credentials });
  try {
    const scope = `repository:${ref.repository}:pull,push`;
    // Fails fast on wrong credentials (the token request throws), before a long hash of big files.
    // A 403 is left to the uploads: an identity may push without being allowed to list tags.
    const probe = await client.request('GET', `/v2/${ref.repository}/tags/list`, { scope, query: { n: '1' } });
    if (probe.status === 401) throw registryErrorOf(probe, `pushing to ${ref.registry}/${ref.repository}`);

    meta.datasets = await Promise.all(meta.datasets.map((d) => resolveLineageReference(d, '--dataset', ref, client)));
    meta.derivedFrom = await Promise.all(
      meta.derivedFrom.map((d) => resolveLineageReference(d, '--derived-from', ref, client)),
    );
    if (meta.baseModel) meta.baseModel = await resolveLineageReference(meta.baseModel, '--base-model', ref, client);

    const packed = await packFiles(kind, files, meta, reporter);
    const stateDir = path.join(configDir(env), 'uploads');
    const chunkSize = opts.chunkSize ?? DEFAULT_CHUNK_SIZE;
    let uploaded = 0;
    let bytesUploaded = 0;
    for (const layer of packed.layers) {
      const r = await uploadBlob(
        client,
        ref.repository,
        {
          digest: layer.descriptor.digest,
          size: layer.descriptor.size,
          label: layer.file.relPath,
          file: layer.file.absPath,
        },
        { chunkSize, stateDir, reporter },
      );
      if (r.status === 'uploaded') {
        uploaded++;
        bytesUploaded += layer.descriptor.size - (r.resumedFrom ?? 0);
      }
    }
    const c = packed.config;
    await uploadBlob(
      client,
      ref.repository,
      { digest: c.descriptor.digest, size: c.descriptor.size, label: 'config', data: c.bytes },
      { chunkSize, stateDir, reporter },
    );

    const res = await client.request('PUT', `/v2/${ref.repository}/manifests/${ref.tag}`, {
      scope,
      headers: { 'Content-Type': packed.manifest.mediaType },
      body: packed.manifest.bytes,
    });
    expectOk(res, `pushing the manifest ${ref.repository}:${ref.tag}`);
    const echoed = res.headers['docker-content-digest'];
    if (echoed && echoed !== packed.manifest.digest) {
      throw new Error(
        `the registry stored the manifest under ${echoed}, not ${packed.manifest.digest} as sent; it may have rewritten it`,
      );
    }
    const total = packed.layers.reduce((n, l) => n + l.descriptor.size, 0);
    reporter.info(
      `pushed ${ref.repository}:${ref.tag}: ${packed.layers.length} file(s), ${formatBytes(total)}; ${uploaded} uploaded (${formatBytes(bytesUploaded)} sent), ${packed.layers.length - uploaded} already on the registry`,
    );
    return {
      repository: ref.repository,
      digest: packed.manifest.digest,
      files: packed.layers.length,
      uploaded,
      bytesUploaded,
    };
  } finally {
    client.close();
  }
}
