import { SigningError } from './errors';

export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';
export const IN_TOTO_STATEMENT_V1 = 'https://in-toto.io/Statement/v1';
/** What cosign v3 signs for `cosign sign`: a statement with this predicate type and an empty predicate. */
export const COSIGN_SIGN_PREDICATE_TYPE = 'https://sigstore.dev/cosign/sign/v1';
/** cosign's `--type custom`: the predicate text wrapped as `{Data, Timestamp}`. */
export const COSIGN_CUSTOM_PREDICATE_TYPE = 'https://cosign.sigstore.dev/attestation/v1';

/** cosign attest's short names for `--type` (cosign's pkg/cosign/attestation), so the same flags work. */
export const PREDICATE_TYPE_ALIASES: Record<string, string> = {
  slsaprovenance: 'https://slsa.dev/provenance/v0.2',
  slsaprovenance02: 'https://slsa.dev/provenance/v0.2',
  slsaprovenance1: 'https://slsa.dev/provenance/v1',
  link: 'https://in-toto.io/Link/v1',
  spdx: 'https://spdx.dev/Document',
  spdxjson: 'https://spdx.dev/Document',
  cyclonedx: 'https://cyclonedx.org/bom',
  vuln: 'https://cosign.sigstore.dev/attestation/vuln/v1',
  openvex: 'https://openvex.dev/ns',
  custom: COSIGN_CUSTOM_PREDICATE_TYPE,
};

/** `--type` as given (a short name or a URI) → the predicate type URI. */
export function resolvePredicateType(input: string): string {
  const alias = PREDICATE_TYPE_ALIASES[input.toLowerCase()];
  if (alias) return alias;
  if (/^[a-z][a-z0-9+.-]*:\S+$/i.test(input)) return input;
  throw new SigningError(
    `--type ${input}: not a predicate type URI nor one of cosign's names (${Object.keys(PREDICATE_TYPE_ALIASES).join(', ')})`,
  );
}

/**
 * The predicate as cosign builds it from `--predicate`: for the `custom` type the raw text wrapped in
 * `{Data, Timestamp}`; for every other type the file must be JSON and is the predicate itself.
 */
export function predicateFrom(text: string, predicateType: string, label: string, now: Date = new Date()): unknown {
  if (predicateType === COSIGN_CUSTOM_PREDICATE_TYPE) return { Data: text, Timestamp: rfc3339(now) };
  try {
    const parsed = JSON.parse(text) as unknown;
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new Error('not a JSON object');
    return parsed;
  } catch (err) {
    throw new SigningError(`--predicate ${label}: the predicate must be a JSON object (${(err as Error).message})`);
  }
}

export interface InTotoStatement {
  _type: string;
  subject: { name: string; digest: Record<string, string> }[];
  predicateType: string;
  predicate: unknown;
}

/** An in-toto statement v1 about one manifest: its repository as the name, its digest as the subject. */
export function statementFor(
  repository: string,
  manifestDigest: string,
  predicateType: string,
  predicate: unknown,
): InTotoStatement {
  const [algorithm, hex] = manifestDigest.split(':') as [string, string];
  return {
    _type: IN_TOTO_STATEMENT_V1,
    subject: [{ name: repository, digest: { [algorithm]: hex } }],
    predicateType,
    predicate,
  };
}

/** RFC 3339 in UTC to the second, as Go's time.RFC3339 prints it (cosign's annotations and predicates). */
export function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
