/**
 * The console's one way to the registry. The session lives in an HttpOnly cookie only /ui/session
 * receives; access tokens are asked for per scope and kept in this module's memory, never in storage
 * an injected script could read, never in a URL. Calls go to the same APIs every client uses, with the
 * same authorization: a 401 naming a scope is answered by asking for a token of that scope, once.
 */

export interface Session {
  user: string;
  principal: string;
  mfa: boolean;
  expiresAt: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly detail?: Record<string, unknown>,
  ) {
    super(message);
  }
}

const CONSOLE = { 'X-Cairn-Console': '1' };
const tokens = new Map<string, { token: string; until: number }>();
let onSignedOut: () => void = () => undefined;

export function whenSignedOut(f: () => void): void {
  onSignedOut = f;
}

async function errorOf(r: Response): Promise<ApiError> {
  let code = 'UNKNOWN';
  let message = `${r.status} ${r.statusText}`;
  let detail: Record<string, unknown> | undefined;
  try {
    const body = (await r.json()) as { errors?: { code: string; message: string; detail?: unknown }[] };
    const e = body.errors?.[0];
    if (e) {
      code = e.code;
      message = e.message;
      if (e.detail && typeof e.detail === 'object') detail = e.detail as Record<string, unknown>;
    }
  } catch {
    // Not an OCI error body: the status line says it.
  }
  return new ApiError(r.status, code, message, detail);
}

export async function currentSession(): Promise<Session | undefined> {
  const r = await fetch('/ui/session', { headers: CONSOLE, credentials: 'same-origin' });
  if (r.status === 401) return undefined;
  if (!r.ok) throw await errorOf(r);
  return (await r.json()) as Session;
}

export async function signIn(username: string, password: string, otp?: string): Promise<Session> {
  tokens.clear();
  const r = await fetch('/ui/session', {
    method: 'POST',
    credentials: 'same-origin',
    headers: { ...CONSOLE, 'Content-Type': 'application/json' },
    body: JSON.stringify({ username, password, ...(otp ? { otp } : {}) }),
  });
  if (!r.ok) throw await errorOf(r);
  return (await r.json()) as Session;
}

export async function signOut(): Promise<void> {
  tokens.clear();
  await fetch('/ui/session', { method: 'DELETE', credentials: 'same-origin', headers: CONSOLE });
}

async function tokenFor(scopes: string[]): Promise<string> {
  const key = scopes.join(' ');
  const held = tokens.get(key);
  if (held && held.until > Date.now() + 10_000) return held.token;
  const r = await fetch('/ui/session/token', {
    method: 'POST',
    credentials: 'same-origin',
    headers: { ...CONSOLE, 'Content-Type': 'application/json' },
    body: JSON.stringify({ scopes }),
  });
  if (r.status === 401) {
    tokens.clear();
    onSignedOut();
    throw new ApiError(401, 'UNAUTHORIZED', 'your session has ended: sign in again');
  }
  if (!r.ok) throw await errorOf(r);
  const t = (await r.json()) as { token: string; expiresAt: string };
  tokens.set(key, { token: t.token, until: Date.parse(t.expiresAt) });
  return t.token;
}

function challengedScope(r: Response): string[] | undefined {
  const h = r.headers.get('WWW-Authenticate') ?? '';
  const m = /scope="([^"]*)"/.exec(h);
  return m ? m[1]!.split(' ').filter(Boolean) : undefined;
}

export interface CallOptions {
  scopes: string[];
  method?: string;
  body?: unknown;
  accept?: string;
}

/** A call to the registry's API with a token for `scopes`; a non-2xx answer throws its OCI error. */
export async function call(path: string, o: CallOptions): Promise<Response> {
  let scopes = o.scopes;
  for (let attempt = 0; ; attempt++) {
    const token = await tokenFor(scopes);
    const r = await fetch(path, {
      method: o.method ?? 'GET',
      headers: {
        Authorization: `Bearer ${token}`,
        ...(o.accept ? { Accept: o.accept } : {}),
        ...(o.body !== undefined ? { 'Content-Type': 'application/json' } : {}),
      },
      ...(o.body !== undefined ? { body: JSON.stringify(o.body) } : {}),
      credentials: 'omit',
    });
    if (r.ok) return r;
    const asked = r.status === 401 ? challengedScope(r) : undefined;
    if (attempt === 0 && asked && asked.join(' ') !== scopes.join(' ')) {
      scopes = asked;
      continue;
    }
    throw await errorOf(r);
  }
}

export async function json<T>(path: string, o: CallOptions): Promise<T> {
  return (await (await call(path, o)).json()) as T;
}

export const pullScope = (repository: string) => [`repository:${repository}:pull`];
export const CATALOG = ['registry:catalog:*'];
