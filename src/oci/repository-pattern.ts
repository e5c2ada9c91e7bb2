/**
 * The one pattern language for repository names in Cairn's configuration and policies (governance,
 * trust policies, replication targets): `*` within a path segment, `**` across segments, anchored.
 */
const compiled = new Map<string, RegExp>();

export function repositoryMatches(patternText: string, repository: string): boolean {
  // Patterns come from the policy files, so they are few; a manifest GET under a trust policy asks.
  let re = compiled.get(patternText);
  if (!re) {
    const source = patternText
      .split('**')
      .map((part) =>
        part
          .split('*')
          .map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
          .join('[^/]*'),
      )
      .join('.*');
    re = new RegExp(`^${source}$`);
    if (compiled.size > 10_000) compiled.clear();
    compiled.set(patternText, re);
  }
  return re.test(repository);
}
