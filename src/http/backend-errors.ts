/**
 * Whether an error means a backend (storage, database, session store) is unreachable or failing, rather
 * than a fault of the registry's own: such requests answer 503 UNAVAILABLE, which clients retry, instead
 * of 500. The error's cause chain is followed (drivers wrap the socket error).
 */
const NETWORK = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNABORTED',
  // A disk that is full or read-only: the storage cannot take more, retry later or elsewhere.
  'ENOSPC',
  'EDQUOT',
  'EROFS',
  // SQLite: locked past the busy timeout, disk full, I/O error.
  'SQLITE_BUSY',
  'SQLITE_FULL',
  'SQLITE_IOERR',
]);
/** PostgreSQL: connection exceptions (08…), the server shutting down (57P0…), too many connections. */
const POSTGRES = /^(08...|57P0[1-3]|53300)$/;
/**
 * Errors without a code. node-postgres refuses a statement (kysely's ROLLBACK among them, whose error
 * replaces the first one) on a client whose connection broke between statements with "Client has
 * encountered a connection error and is not queryable" — seen as a 500 while PostgreSQL shut down in CI.
 */
const MESSAGES =
  /Connection is closed|Connection terminated|timeout exceeded when trying to connect|connect ECONNREFUSED|Reached the max retries per request limit|socket hang up|is not queryable|^Command timed out$|Stream isn't writeable|^timeout expired$|^Query read timeout$/i;
const S3_CODES = new Set(['SlowDown', 'ServiceUnavailable', 'InternalError', 'RequestTimeout']);

export function isBackendUnavailable(err: unknown, depth = 0): boolean {
  if (depth > 5 || typeof err !== 'object' || err === null) return false;
  const e = err as { code?: unknown; name?: unknown; message?: unknown; cause?: unknown; errors?: unknown };
  const code = typeof e.code === 'string' ? e.code : '';
  if (NETWORK.has(code) || POSTGRES.test(code) || S3_CODES.has(code)) return true;
  // KeyUnavailable: the HSM or key-encryption key cannot be used now; never answered with a wrong byte.
  if (e.name === 'MaxRetriesPerRequestError' || e.name === 'S3WriteFailed' || e.name === 'KeyUnavailable') return true;
  if (typeof e.message === 'string' && MESSAGES.test(e.message)) return true;
  if (Array.isArray(e.errors) && e.errors.some((x) => isBackendUnavailable(x, depth + 1))) return true;
  return isBackendUnavailable(e.cause, depth + 1);
}
