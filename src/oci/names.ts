import { OciError } from './errors';

// The repository-name and tag grammars of the distribution spec (v1.1, "Pulling manifests").
const NAME_COMPONENT = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*';
const NAME = new RegExp(`^${NAME_COMPONENT}(?:/${NAME_COMPONENT})*$`);
const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;

/** Many clients cap host + port + name at 255 characters; a longer name could never be pulled. */
export const MAX_NAME_LENGTH = 255;

export function isRepositoryName(name: string): boolean {
  return name.length <= MAX_NAME_LENGTH && NAME.test(name);
}

export function assertRepositoryName(name: string): void {
  if (isRepositoryName(name)) return;
  throw new OciError('NAME_INVALID', 'invalid repository name', {
    name: name.length > 300 ? `${name.slice(0, 300)}…` : name,
    rule:
      name.length > MAX_NAME_LENGTH
        ? `at most ${MAX_NAME_LENGTH} characters`
        : 'lower-case path components of [a-z0-9] separated by ".", "_", "__" or "-", joined by "/"',
  });
}

export function isTag(tag: string): boolean {
  return TAG.test(tag);
}
