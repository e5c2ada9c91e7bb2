/**
 * The OCI distribution-spec error codes, each with the HTTP status the spec (or, where the spec is
 * silent, CNCF Distribution) gives it. Handlers throw OciError; the HTTP layer turns it into the
 * `{"errors":[...]}` body, so no handler formats an error itself.
 */
export const ERROR_STATUS = {
  BLOB_UNKNOWN: 404,
  BLOB_UPLOAD_INVALID: 400,
  BLOB_UPLOAD_UNKNOWN: 404,
  DIGEST_INVALID: 400,
  MANIFEST_BLOB_UNKNOWN: 400,
  MANIFEST_INVALID: 400,
  MANIFEST_UNKNOWN: 404,
  NAME_INVALID: 400,
  NAME_UNKNOWN: 404,
  SIZE_INVALID: 400,
  UNAUTHORIZED: 401,
  DENIED: 403,
  UNSUPPORTED: 405,
  TOOMANYREQUESTS: 429,
  RANGE_INVALID: 416,
  /** Distribution's errcode.ErrorCodeTagInvalid: a manifest PUT under a reference that is not a valid tag. */
  TAG_INVALID: 400,
  /** Distribution's errcode.ErrorCodeUnknown: a fault of the registry itself. */
  UNKNOWN: 500,
  /** Distribution's errcode.ErrorCodeUnavailable: a backend is down or did not keep what it was given; retry. */
  UNAVAILABLE: 503,
} as const;

export type OciErrorCode = keyof typeof ERROR_STATUS;

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
    this.status = options.status ?? ERROR_STATUS[code];
    this.headers = options.headers ?? {};
  }

  toJSON(): { code: string; message: string; detail?: unknown } {
    return this.detail === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, detail: this.detail };
  }
}
