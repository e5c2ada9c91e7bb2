import { createHash } from 'node:crypto';
import { mkdir, realpath } from 'node:fs/promises';
import path from 'node:path';
import {
  ArtifactTypes,
  FILEPATH_ANNOTATION,
  LEGACY_FILEPATH_ANNOTATION,
  MANIFEST_ACCEPT,
  TITLE_ANNOTATION,
} from './artifact-types';
import { resolveCredentials } from './credentials';
import { downloadBlob } from './download';
import { downloadBlobParallel } from './parallel-download';
import { formatBytes, type Reporter } from './progress';
import { parseReference, ReferenceError } from './reference';
import { expectOk, RegistryClient } from './registry-client';
import { PackError, PARTIAL_SUFFIX } from './walk';

export interface PullOptions {
  plainHttp?: boolean;
  /** Range requests at once for a blob larger than one part (1: one stream per blob). */
  connections?: number;
  partBytes?: number;
}

export const DEFAULT_CONNECTIONS = 4;
export const DEFAULT_PART_BYTES = 32 * 1024 * 1024;

export interface PullResult {
  repository: string;
  digest: string;
  files: number;
  downloaded: number;
}

interface Layer {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

/**
 * A layer's path, made safe to join under the target directory: `/`-separated, relative, without `..`.
 * Undefined when it is none of these (the pull is then refused, not "fixed").
 */
export function safeRelativePath(p: string): string | undefined {
  if (p === '' || p.includes('\0') || p.includes('\\') || p.startsWith('/') || /^[A-Za-z]:/.test(p)) return undefined;
  const parts = p.split('/').filter((s) => s !== '' && s !== '.');
  if (parts.length === 0 || parts.includes('..')) return undefined;
  // Our own in-progress files must not be overwritten by content.
  if (parts[parts.length - 1]!.endsWith(PARTIAL_SUFFIX)) return undefined;
  return parts.join('/');
}

function inside(root: string, target: string): boolean {
  const rel = path.relative(root, target);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

function parseManifest(body: Buffer, what: string): { layers: Layer[]; artifactType?: string } {
  let doc: { mediaType?: string; layers?: unknown; manifests?: unknown; artifactType?: string };
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch {
    throw new PackError(`${what}: the manifest is not JSON`);
  }
  if (doc.mediaType === ArtifactTypes.ociIndex || Array.isArray(doc.manifests)) {
    throw new PackError(`${what} is an image index (several manifests); pull one of them by digest`);
  }
  if (!Array.isArray(doc.layers)) throw new PackError(`${what}: the manifest has no layers`);
  for (const l of doc.layers as Layer[]) {
    if (
      !l ||
      typeof l.digest !== 'string' ||
      typeof l.size !== 'number' ||
      !/^sha(256|512):[a-f0-9]+$/.test(l.digest)
    ) {
      throw new PackError(`${what}: the manifest has a malformed layer`);
    }
  }
  return { layers: doc.layers as Layer[], artifactType: doc.artifactType };
}

/** Decides every file's path before anything is written, so a bad manifest leaves the directory untouched. */
function plan(layers: Layer[], what: string): { layer: Layer; rel: string }[] {
  const seen = new Set<string>();
  return layers.map((layer) => {
    const a = layer.annotations ?? {};
    const raw = a[FILEPATH_ANNOTATION] ?? a[LEGACY_FILEPATH_ANNOTATION] ?? a[TITLE_ANNOTATION];
    if (raw === undefined)
      throw new PackError(
        `${what}: layer ${layer.digest} names no file (${FILEPATH_ANNOTATION} or ${TITLE_ANNOTATION}); it is not a file artifact`,
      );
    if (a['io.deis.oras.content.unpack'] === 'true') {
      throw new PackError(
        `${what}: layer "${raw}" is a packed directory archive (oras); cairn pull restores file layers only — use oras pull for it`,
      );
    }
    const rel = safeRelativePath(raw);
    if (!rel)
      throw new PackError(
        `${what}: refusing layer ${layer.digest}: its path "${raw}" is absolute or leaves the target directory`,
      );
    if (seen.has(rel)) throw new PackError(`${what}: two layers want the same path "${rel}"`);
    seen.add(rel);
    return { layer, rel };
  });
}

/** `cairn pull <reference> <dir>`: restores the files of a model or dataset artifact. */
export async function pullArtifact(
  reference: string,
  dir: string,
  opts: PullOptions,
  reporter: Reporter,
  env: NodeJS.ProcessEnv = process.env,
): Promise<PullResult> {
  const ref = parseReference(reference, { plainHttp: opts.plainHttp });
  if (!ref.tag && !ref.digest)
    throw new ReferenceError(
      `"${reference}" has no tag or digest; add one, e.g. ${ref.registry}/${ref.repository}:v1 (Cairn does not assume "latest")`,
    );
  const what = `${ref.repository}${ref.digest ? `@${ref.digest}` : `:${ref.tag}`}`;
  const client = new RegistryClient({ baseUrl: ref.baseUrl, credentials: await resolveCredentials(ref.registry, env) });
  try {
    const res = expectOk(
      await client.request('GET', `/v2/${ref.repository}/manifests/${ref.digest ?? ref.tag}`, {
        scope: `repository:${ref.repository}:pull`,
        headers: { Accept: MANIFEST_ACCEPT },
      }),
      `fetching ${what}`,
    );
    const actual = `sha256:${createHash('sha256').update(res.body).digest('hex')}`;
    const expected = ref.digest ?? res.headers['docker-content-digest'];
    if (expected?.startsWith('sha256:') && expected !== actual)
      throw new Error(`${what}: the manifest received hashes to ${actual}, not ${expected}; refusing it`);
    const digest = expected ?? actual;
    const { layers } = parseManifest(res.body, what);
    const files = plan(layers, what);

    await mkdir(dir, { recursive: true });
    const root = await realpath(dir);
    let downloaded = 0;
    let bytes = 0;
    for (const { layer, rel } of files) {
      const dest = path.join(root, ...rel.split('/'));
      await mkdir(path.dirname(dest), { recursive: true });
      // A directory inside the target that is a link to elsewhere must not carry files out of it.
      if (!inside(root, await realpath(path.dirname(dest))))
        throw new PackError(`refusing to write ${rel}: ${path.dirname(rel)} is a symbolic link out of ${dir}`);
      const connections = opts.connections ?? DEFAULT_CONNECTIONS;
      const partBytes = opts.partBytes ?? DEFAULT_PART_BYTES;
      const r =
        connections > 1 && layer.size > partBytes
          ? await downloadBlobParallel(client, ref.repository, layer, dest, rel, reporter, { connections, partBytes })
          : await downloadBlob(client, ref.repository, layer, dest, rel, reporter);
      if (r.status === 'downloaded') {
        downloaded++;
        bytes += layer.size - (r.resumedFrom ?? 0);
      }
    }
    reporter.info(
      `pulled ${what} into ${dir}: ${files.length} file(s); ${downloaded} downloaded (${formatBytes(bytes)}), ${files.length - downloaded} already present`,
    );
    return { repository: ref.repository, digest, files: files.length, downloaded };
  } finally {
    client.close();
  }
}
