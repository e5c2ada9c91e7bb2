// canonicalize is an ES module (Node 20 loads it through require(esm); Jest transforms it): its function
// is the default export.
const canonicalize = (require('canonicalize') as { default: (v: unknown) => string | undefined }).default;

/** RFC 8785 JSON Canonicalization Scheme: the exact bytes that are hashed into the log. */
export function canonicalJson(value: unknown): string {
  const s = canonicalize(value);
  if (s === undefined) throw new TypeError('value has no JSON form');
  return s;
}
