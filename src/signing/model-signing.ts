import { createHash } from 'node:crypto';
import { FILEPATH_ANNOTATIONS } from '../artifacts/media-types';
import type { Descriptor } from '../oci/manifest-parser';

/**
 * OpenSSF model signing (sigstore/model-transparency): an in-toto statement whose subject is the model
 * (a name and a digest over all its files' digests) and whose predicate lists every file with its
 * digest. It names no OCI digest, so it is bound to an artifact by its files: each file layer of the
 * artifact must be listed with the layer's digest, and nothing else may be listed.
 */
export const MODEL_SIGNING_V1 = 'https://model_signing/signature/v1.0';
/** The v0.2 tool's format, still in use: one subject per file, no root digest. */
export const MODEL_SIGNING_V01 = 'https://model_signing/Digests/v0.1';

export function isModelSigning(predicateType: string | undefined): boolean {
  return predicateType === MODEL_SIGNING_V1 || predicateType === MODEL_SIGNING_V01;
}

export interface ArtifactFile {
  name: string;
  /** The layer's digest (hex): the file's own sha256, for layers stored as the raw file. */
  sha256: string;
  archive: boolean;
}

/** The files of an artifact, as model signing names them: each layer with a file path annotation. */
export function artifactFiles(layers: Descriptor[]): ArtifactFile[] {
  const out: ArtifactFile[] = [];
  for (const l of layers) {
    const name = FILEPATH_ANNOTATIONS.map((a) => l.annotations?.[a]).find((v) => typeof v === 'string' && v.length > 0);
    if (!name || !l.digest.startsWith('sha256:')) continue;
    out.push({ name: name.replace(/^\.\//, ''), sha256: l.digest.slice(7), archive: /\.tar(\+|$)/.test(l.mediaType) });
  }
  return out;
}

type Statement = {
  subject?: { name?: string; digest?: Record<string, string> }[];
  predicateType?: string;
  predicate?: unknown;
};

/** The files a model-signing statement lists, after checking that it is consistent with its subject. */
function signedFiles(st: Statement): Map<string, string> | string {
  const files = new Map<string, string>();
  const hex = (v: unknown) => typeof v === 'string' && /^[0-9a-f]{64}$/.test(v);
  if (st.predicateType === MODEL_SIGNING_V01) {
    for (const s of st.subject ?? []) {
      if (typeof s?.name !== 'string' || !hex(s.digest?.sha256))
        return 'a subject of the model signature has no name or sha256 digest';
      files.set(s.name, s.digest!.sha256!);
    }
    return files;
  }
  const subjects = st.subject ?? [];
  if (subjects.length !== 1 || !hex(subjects[0]?.digest?.sha256))
    return 'a model signature has exactly one subject with a sha256 digest';
  const resources = (st.predicate as { resources?: unknown } | undefined)?.resources;
  if (!Array.isArray(resources)) return 'the model signature lists no resources';
  const root = createHash('sha256');
  for (const r of resources as { name?: unknown; algorithm?: unknown; digest?: unknown }[]) {
    if (typeof r?.name !== 'string' || r.algorithm !== 'sha256' || !hex(r.digest))
      return 'a resource of the model signature is not a name with a sha256 digest';
    root.update(Buffer.from(r.digest as string, 'hex'));
    files.set(r.name, r.digest as string);
  }
  const computed = root.digest('hex');
  if (computed !== subjects[0]!.digest!.sha256)
    return `the model signature is inconsistent: its resources hash to ${computed}, not to its subject's ${subjects[0]!.digest!.sha256}`;
  return files;
}

/** Why a model-signing statement does not sign exactly these files; undefined when it does. */
export function modelSigningProblem(st: Statement, files: ArtifactFile[] | undefined): string | undefined {
  if (!files)
    return 'the signed artifact is not in this repository, so its files cannot be compared with the model signature';
  const signed = signedFiles(st);
  if (typeof signed === 'string') return signed;
  if (files.length === 0)
    return 'the artifact has no file layers (with a file path annotation) to compare with the model signature';
  const problems: string[] = [];
  for (const f of files) {
    const d = signed.get(f.name);
    if (f.archive) problems.push(`${f.name} is packed as an archive; a model signature covers single files`);
    else if (d === undefined) problems.push(`${f.name} is not covered by the model signature`);
    else if (d !== f.sha256) problems.push(`${f.name} differs from what was signed (sha256:${d})`);
  }
  const names = new Set(files.map((f) => f.name));
  for (const name of signed.keys())
    if (!names.has(name)) problems.push(`the model signature covers ${name}, which the artifact does not have`);
  if (problems.length === 0) return undefined;
  return problems.length > 3
    ? `${problems.slice(0, 3).join('; ')}; and ${problems.length - 3} more`
    : problems.join('; ');
}
