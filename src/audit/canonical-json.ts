import canonicalize from 'canonicalize';

/** RFC 8785 JSON Canonicalization Scheme: the exact bytes that are hashed into the log. */
export function canonicalJson(value: unknown): string {
  const s = canonicalize(value);
  if (s === undefined) throw new TypeError('value has no JSON form');
  return s;
}
