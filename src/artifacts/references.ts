import { tryParseDigest } from '../oci/digest';
import { isRepositoryName } from '../oci/names';

/** An artifact named by digest, optionally in a given repository (`ml/imagenet@sha256:…`). */
export interface ArtifactRef {
  repository?: string;
  digest: string;
}

/** Parses `sha256:…` or `<repository>@sha256:…`; undefined when it is neither. */
export function parseArtifactRef(input: string): ArtifactRef | undefined {
  const s = input.trim();
  const at = s.lastIndexOf('@');
  const digest = at === -1 ? s : s.slice(at + 1);
  const parsed = tryParseDigest(digest);
  if (!parsed) return undefined;
  if (at === -1) return { digest: parsed.value };
  // A host in front of the repository (`registry.example/ml/x@…`) is dropped: lineage is within a registry.
  let repository = s.slice(0, at);
  const first = repository.split('/')[0]!;
  if (repository.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost'))
    repository = repository.slice(first.length + 1);
  return isRepositoryName(repository) ? { repository, digest: parsed.value } : undefined;
}
