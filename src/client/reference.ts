import { isRepositoryName, isTag, MAX_NAME_LENGTH } from '../oci/names';
import { tryParseDigest } from '../oci/digest';

/** A parsed `host[:port]/repo/path:tag` or `host[:port]/repo@sha256:…`. */
export interface Reference {
  /** `host[:port]` as written (lower-cased): the key credentials are stored under. */
  registry: string;
  /** `http(s)://host[:port]`, no trailing slash. */
  baseUrl: string;
  repository: string;
  tag?: string;
  digest?: string;
}

export interface ParseReferenceOptions {
  /** Force plain HTTP; without it only localhost / loopback addresses use HTTP. */
  plainHttp?: boolean;
}

/** Bad user input in a reference; the message says what a valid one looks like. */
export class ReferenceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReferenceError';
  }
}

const LOOPBACK = /^(localhost|127(?:\.\d{1,3}){3}|\[::1\])$/i;
// A host, an IPv4 address or a bracketed IPv6 address, with an optional port.
const HOST =
  /^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*|\[[0-9a-f:.]+\])(?::\d{1,5})?$/i;

function hostOnly(registry: string): string {
  return registry.startsWith('[') ? registry.slice(0, registry.indexOf(']') + 1) : registry.split(':')[0]!;
}

/** Whether the first path component names a registry (as Docker decides: a dot, a port, or localhost). */
export function looksLikeHost(component: string): boolean {
  return (
    HOST.test(component) &&
    (component.includes('.') || component.includes(':') || component.startsWith('[') || /^localhost$/i.test(component))
  );
}

/**
 * Parses a registry host as given to `cairn login` (`host[:port]`, an `http://` or `https://` prefix
 * chooses the scheme) into its credential key and base URL.
 */
export function parseRegistry(input: string, opts: ParseReferenceOptions = {}): { registry: string; baseUrl: string } {
  let raw = input.trim();
  let scheme: 'http' | 'https' | undefined;
  const m = /^(https?):\/\//i.exec(raw);
  if (m) {
    scheme = m[1]!.toLowerCase() as 'http' | 'https';
    raw = raw.slice(m[0].length).replace(/\/+$/, '');
  }
  if (!HOST.test(raw))
    throw new ReferenceError(
      `"${input}" is not a registry host; expected host[:port], e.g. registry.example.com or localhost:5000`,
    );
  const port = /:(\d+)$/.exec(raw.startsWith('[') ? raw.slice(raw.indexOf(']')) : raw)?.[1];
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535))
    throw new ReferenceError(`"${input}": port ${port} is out of range`);
  const registry = raw.toLowerCase();
  const plain = opts.plainHttp || scheme === 'http' || (scheme === undefined && LOOPBACK.test(hostOnly(registry)));
  return { registry, baseUrl: `${plain ? 'http' : 'https'}://${registry}` };
}

/** Parses a full reference. The registry host is required: Cairn never guesses a default registry. */
export function parseReference(input: string, opts: ParseReferenceOptions = {}): Reference {
  const text = input.trim();
  const example = 'e.g. registry.example.com/ml/bert:v1 or localhost:5000/ml/bert@sha256:<64 hex>';
  if (/^https?:\/\//i.test(text))
    throw new ReferenceError(
      `"${input}": write the reference without a scheme (${example}); use --plain-http for HTTP`,
    );
  const slash = text.indexOf('/');
  if (slash < 0 || !looksLikeHost(text.slice(0, slash))) {
    throw new ReferenceError(`"${input}" does not start with a registry host (${example})`);
  }
  const { registry, baseUrl } = parseRegistry(text.slice(0, slash), opts);
  let rest = text.slice(slash + 1);

  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!tryParseDigest(digest))
      throw new ReferenceError(`"${input}": "${digest}" is not a valid digest (expected sha256:<64 lower-case hex>)`);
  }
  let tag: string | undefined;
  // A tag follows the last ':' of the last path component (the host's port is already cut off).
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.indexOf(':', lastSlash + 1);
  if (colon >= 0) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!isTag(tag))
      throw new ReferenceError(
        `"${input}": "${tag}" is not a valid tag (up to 128 of [A-Za-z0-9_.-], not starting with "." or "-")`,
      );
  }
  if (!isRepositoryName(rest)) {
    throw new ReferenceError(
      rest.length > MAX_NAME_LENGTH
        ? `"${input}": the repository name is longer than ${MAX_NAME_LENGTH} characters`
        : `"${input}": "${rest}" is not a valid repository name (lower-case [a-z0-9] components separated by ".", "_", "__" or "-", joined by "/")`,
    );
  }
  return {
    registry,
    baseUrl,
    repository: rest,
    ...(tag !== undefined ? { tag } : {}),
    ...(digest !== undefined ? { digest } : {}),
  };
}

/** `host/repo:tag`, `host/repo@digest` (the digest wins when both are known). */
export function formatReference(ref: Reference): string {
  return `${ref.registry}/${ref.repository}${ref.digest ? `@${ref.digest}` : ref.tag ? `:${ref.tag}` : ''}`;
}
