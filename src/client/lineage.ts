import { tryParseDigest } from '../oci/digest';
import { isRepositoryName, isTag } from '../oci/names';
import { MANIFEST_ACCEPT } from './artifact-types';
import { looksLikeHost, type Reference } from './reference';
import { expectOk, type RegistryClient } from './registry-client';
import { PackError } from './walk';

/**
 * Turns a lineage reference (`--dataset`, `--base-model`, `--derived-from`) into the form the registry
 * records: `repo@sha256:…` or `sha256:…`. A tag is resolved to its digest now, because lineage must
 * name content, not a tag that may move later. The target registry's host may be written in front.
 */
export async function resolveLineageReference(
  raw: string,
  flag: string,
  target: Reference,
  client: RegistryClient,
): Promise<string> {
  const input = raw.trim();
  if (input.startsWith('sha256:') || input.startsWith('sha512:')) {
    if (!tryParseDigest(input)) throw new PackError(`${flag} ${raw}: not a valid digest (sha256:<64 lower-case hex>)`);
    return input;
  }
  let rest = input;
  const slash = rest.indexOf('/');
  if (slash > 0 && looksLikeHost(rest.slice(0, slash))) {
    const host = rest.slice(0, slash).toLowerCase();
    if (host !== target.registry) {
      throw new PackError(
        `${flag} ${raw}: lineage can only point into the same registry (${target.registry}); write repo@sha256:… or sha256:…`,
      );
    }
    rest = rest.slice(slash + 1);
  }
  const at = rest.indexOf('@');
  if (at >= 0) {
    const repository = rest.slice(0, at);
    const digest = rest.slice(at + 1);
    if (!isRepositoryName(repository))
      throw new PackError(`${flag} ${raw}: "${repository}" is not a valid repository name`);
    if (!tryParseDigest(digest))
      throw new PackError(`${flag} ${raw}: "${digest}" is not a valid digest (sha256:<64 lower-case hex>)`);
    return `${repository}@${digest}`;
  }
  const colon = rest.lastIndexOf(':');
  const repository = colon > 0 ? rest.slice(0, colon) : rest;
  const tag = colon > 0 ? rest.slice(colon + 1) : undefined;
  if (!tag || !isRepositoryName(repository) || !isTag(tag)) {
    throw new PackError(`${flag} ${raw}: expected repo@sha256:…, sha256:… or repo:tag (resolved to its digest now)`);
  }
  const res = await client.request('HEAD', `/v2/${repository}/manifests/${tag}`, {
    scope: `repository:${repository}:pull`,
    headers: { Accept: MANIFEST_ACCEPT },
  });
  if (res.status === 404)
    throw new PackError(`${flag} ${raw}: ${repository}:${tag} does not exist on ${target.registry}`);
  expectOk(res, `${flag} ${raw}: resolving the tag`);
  const digest = res.headers['docker-content-digest'];
  if (!digest || !tryParseDigest(digest))
    throw new PackError(`${flag} ${raw}: the registry did not say which digest ${repository}:${tag} has`);
  return `${repository}@${digest}`;
}
