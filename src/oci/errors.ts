/**
 * Every error code Cairn answers with, each once, with its HTTP status and meaning (CNCF Distribution's
 * errcode registry is the model). The `oci` group is the distribution-spec's table, with Distribution's
 * codes where the spec is silent; the `cairn` group is for Cairn's own APIs (`/v2/…/_cairn/`, the token,
 * account, admin and audit endpoints). A status other than the code's own is allowed only where the spec
 * gives one (`also`). Handlers throw OciError; the HTTP layer turns it into the `{"errors":[...]}` body.
 * docs/api.md's error table is checked against this one by test/unit/error-registry.test.ts.
 */
interface ErrorCodeSpec {
  status: number;
  /** Other statuses the spec gives this code in named situations. */
  also?: readonly number[];
  group: 'oci' | 'cairn';
  meaning: string;
}

export const ERROR_CODES = {
  BLOB_UNKNOWN: { status: 404, group: 'oci', meaning: 'the blob is not visible in this repository' },
  BLOB_UPLOAD_INVALID: {
    status: 400,
    also: [416],
    group: 'oci',
    meaning:
      'a malformed chunk (400), or one out of order or while another request writes the upload (416, with Range)',
  },
  BLOB_UPLOAD_UNKNOWN: {
    status: 404,
    group: 'oci',
    meaning: 'an unknown, expired or cancelled upload, or one opened in another repository',
  },
  DIGEST_INVALID: {
    status: 400,
    group: 'oci',
    meaning: 'a malformed digest, an unsupported algorithm, or content that does not match its digest',
  },
  MANIFEST_BLOB_UNKNOWN: {
    status: 400,
    group: 'oci',
    meaning: 'the manifest references a blob (or an index a manifest) the repository lacks',
  },
  MANIFEST_INVALID: {
    status: 400,
    also: [413],
    group: 'oci',
    meaning: 'a manifest that is not valid, or whose config fails its schema; 413 over manifests.maxBytes',
  },
  MANIFEST_UNKNOWN: { status: 404, group: 'oci', meaning: 'no such tag or digest, or a reference that is neither' },
  NAME_INVALID: {
    status: 400,
    group: 'oci',
    meaning: 'a repository name outside the spec grammar or over 255 characters',
  },
  NAME_UNKNOWN: { status: 404, group: 'oci', meaning: 'the repository does not exist' },
  SIZE_INVALID: { status: 400, group: 'oci', meaning: 'content whose length is not the one declared' },
  UNAUTHORIZED: {
    status: 401,
    group: 'oci',
    meaning: 'no credentials, or ones not valid here (with a WWW-Authenticate challenge)',
  },
  DENIED: { status: 403, group: 'oci', meaning: 'policy or a governance rule refuses the action' },
  UNSUPPORTED: { status: 405, group: 'oci', meaning: 'the method is not allowed on this endpoint (with Allow)' },
  TOOMANYREQUESTS: { status: 429, group: 'oci', meaning: 'a rate limit was exceeded (with Retry-After)' },
  TAG_INVALID: { status: 400, group: 'oci', meaning: 'a manifest PUT under a reference that is not a valid tag' },
  RANGE_INVALID: {
    status: 416,
    group: 'oci',
    meaning: 'a blob Range beyond its size (with Content-Range: bytes */size)',
  },
  PAGINATION_NUMBER_INVALID: {
    status: 400,
    group: 'oci',
    meaning: 'the n of a paginated list is not a whole number in range',
  },
  UNKNOWN: { status: 500, group: 'oci', meaning: 'a fault of the registry itself; the request id is in the detail' },
  UNAVAILABLE: { status: 503, group: 'oci', meaning: 'a backend is down, or did not keep what it was given; retry' },
  NOT_FOUND: {
    status: 404,
    group: 'cairn',
    meaning: "no such endpoint, or no such resource on Cairn's APIs (schema, user, token, checkpoint, key)",
  },
  PARAMETER_INVALID: {
    status: 400,
    also: [413, 415],
    group: 'cairn',
    meaning:
      "a query parameter or body field of Cairn's APIs (or the token endpoint) is malformed; detail names it (413, 415: a JSON body too large or not JSON)",
  },
  CONFLICT: {
    status: 409,
    group: 'cairn',
    meaning: 'the resource changed meanwhile (a lifecycle move raced another); read it again and retry',
  },
  READ_ONLY: {
    status: 405,
    group: 'cairn',
    meaning: 'this registry is a read-only region: push, delete and approve at the primary, which detail.primary names',
  },
  REPLICATION_LOOP: {
    status: 409,
    group: 'cairn',
    meaning:
      'a replicated change came back to the registry it started from (Cairn-Replicated-Via names it): nothing was written, and the sender skips it',
  },
} as const satisfies Record<string, ErrorCodeSpec>;

export type OciErrorCode = keyof typeof ERROR_CODES;

/** The status of each code, for callers that only need that. */
export const ERROR_STATUS = Object.fromEntries(
  Object.entries(ERROR_CODES).map(([code, spec]) => [code, spec.status]),
) as { [K in OciErrorCode]: (typeof ERROR_CODES)[K]['status'] };

export class OciError extends Error {
  readonly status: number;
  readonly headers: Record<string, string>;
  constructor(
    readonly code: OciErrorCode,
    message: string,
    readonly detail?: unknown,
    options: { status?: number; headers?: Record<string, string> } = {},
  ) {
    super(message);
    this.name = 'OciError';
    const spec: ErrorCodeSpec = ERROR_CODES[code];
    if (options.status !== undefined && options.status !== spec.status && !spec.also?.includes(options.status)) {
      // A programming error: a code answered with a status its registry entry does not allow.
      throw new Error(`${code} is never answered with ${options.status}`);
    }
    this.status = options.status ?? spec.status;
    this.headers = options.headers ?? {};
  }

  toJSON(): { code: string; message: string; detail?: unknown } {
    return this.detail === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, detail: this.detail };
  }
}
