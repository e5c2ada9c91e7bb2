import { OciError } from '../oci/errors';
import { parseDigest } from '../oci/digest';
import { isTag } from '../oci/names';

export type Reference = { digest: string } | { tag: string };

/** A reference is a digest when it has an algorithm prefix, else it must be a tag (TAG_INVALID). */
export function parseReference(reference: string): Reference {
  if (reference.includes(':')) return { digest: parseDigest(reference).value };
  if (!isTag(reference)) {
    throw new OciError('TAG_INVALID', 'invalid tag', {
      tag: reference.slice(0, 200),
      rule: '[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}',
    });
  }
  return { tag: reference };
}

/**
 * For reads and deletes: a name that cannot be a tag names no manifest, so it is unknown (404), as
 * Distribution and the official conformance suite have it; a malformed digest is still DIGEST_INVALID.
 */
export function lookupReference(reference: string): Reference {
  if (!reference.includes(':') && !isTag(reference)) {
    throw new OciError('MANIFEST_UNKNOWN', 'manifest unknown: the reference is neither a valid tag nor a digest', {
      reference: reference.slice(0, 200),
    });
  }
  return parseReference(reference);
}
