import { STATUS_CODES } from 'node:http';

/** A response as RegistryClient.request returns it. */
export interface RegistryResponse {
  status: number;
  /** Lower-case header names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  body: Buffer;
}

/**
 * An error answer from a registry (or its token endpoint), carrying the first OCI error of the body
 * `{"errors":[{"code","message","detail"}]}`. The message holds code, message and detail, because the
 * detail is where the server says what to fix.
 */
export class RegistryError extends Error {
  readonly status: number;
  /** The OCI error code (`MANIFEST_INVALID`, `DENIED`…), or `HTTP_<status>` when the body had none. */
  readonly code: string;
  readonly detail: unknown;
  /** The server's message alone, without code, detail or context. */
  readonly serverMessage: string;

  constructor(init: { status: number; code: string; message: string; detail?: unknown; context?: string }) {
    const detail =
      init.detail === undefined
        ? ''
        : ` (detail: ${typeof init.detail === 'string' ? init.detail : JSON.stringify(init.detail)})`;
    super(`${init.context ? `${init.context}: ` : ''}${init.code}: ${init.message}${detail} [HTTP ${init.status}]`);
    this.name = 'RegistryError';
    this.status = init.status;
    this.code = init.code;
    this.detail = init.detail;
    this.serverMessage = init.message;
  }
}

/** The RegistryError a non-2xx response stands for. `context` says what was being done, e.g. "pushing manifest ml/bert:v1". */
export function registryErrorOf(res: RegistryResponse, context?: string): RegistryError {
  let code = `HTTP_${res.status}`;
  let message = STATUS_CODES[res.status] ?? 'unexpected answer';
  let detail: unknown;
  const text = res.body.toString('utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const errors = (parsed as { errors?: unknown } | undefined)?.errors;
  const first = Array.isArray(errors)
    ? (errors[0] as { code?: unknown; message?: unknown; detail?: unknown } | undefined)
    : undefined;
  if (first && typeof first === 'object') {
    if (typeof first.code === 'string') code = first.code;
    if (typeof first.message === 'string') message = first.message;
    detail = first.detail;
    if (Array.isArray(errors) && errors.length > 1) message += ` (and ${errors.length - 1} more error(s))`;
  } else if (text.trim() !== '' && parsed === undefined) {
    // Not an OCI error body (a proxy's HTML page, say): a short excerpt still helps.
    const excerpt = text.replace(/\s+/g, ' ').trim().slice(0, 200);
    message += `: ${excerpt}`;
  }
  return new RegistryError({ status: res.status, code, message, detail, context });
}

/** Returns a 2xx response as it is, throws its RegistryError otherwise. */
export function expectOk(res: RegistryResponse, context?: string): RegistryResponse {
  if (res.status >= 200 && res.status < 300) return res;
  throw registryErrorOf(res, context);
}
