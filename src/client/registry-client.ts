import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import path from 'node:path';
import { parseChallenge, type Challenge } from './auth-challenge';
import { drain, flatHeaders, HttpTransport, readAll, type RequestBody } from './http-transport';
import { RegistryError, registryErrorOf, type RegistryResponse } from './registry-error';

export { RegistryError, expectOk, registryErrorOf, type RegistryResponse } from './registry-error';

export interface RegistryClientOptions {
  /** `http(s)://host[:port]`. */
  baseUrl: string;
  credentials?: { username: string; password: string };
  userAgent?: string;
}

export interface RequestOptions {
  /** The token scope the request needs, e.g. `repository:ml/bert:pull,push` or `registry:catalog:*`. */
  scope?: string;
  headers?: Record<string, string>;
  body?: RequestBody;
  query?: Record<string, string>;
}

export interface RegistryStreamResponse {
  status: number;
  headers: Record<string, string>;
  /** The response body; read it to the end or destroy it. */
  body: IncomingMessage;
}

interface CachedToken {
  token: string;
  /** When to stop using it: shortly before the server's expiry. */
  renewAt: number;
}

const MAX_REDIRECTS = 5;
const MAX_RATE_LIMIT_RETRIES = 3;

/** `cairn-cli/<version> node/<version>`: who Cairn's client is, in the target's access log. */
export function defaultUserAgent(): string {
  try {
    const pkg = JSON.parse(readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as {
      version?: string;
    };
    return `cairn-cli/${pkg.version ?? 'dev'} node/${process.versions.node}`;
  } catch {
    return `cairn-cli node/${process.versions.node}`;
  }
}

function isReplayable(body: RequestBody | undefined): body is Buffer | string | undefined {
  return body === undefined || typeof body === 'string' || Buffer.isBuffer(body);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * An HTTP client for one registry that speaks the Docker / OCI token flow as Cairn offers it: a 401
 * with `WWW-Authenticate: Bearer realm,service,scope` is answered by a GET of the realm with Basic
 * credentials, and the request retried once with the token. Tokens are cached per scope until shortly
 * before they expire. Requests with a streamed body cannot be replayed, so they get their token first.
 */
export class RegistryClient {
  readonly baseUrl: string;
  private readonly origin: string;
  private readonly credentials?: { username: string; password: string };
  private readonly userAgent: string;
  private readonly transport = new HttpTransport();
  private readonly tokens = new Map<string, CachedToken>();
  /** The token service, learned from the first challenge. */
  private bearer?: { realm: string; service?: string };
  /** Learned from GET /v2/ answering 200 without credentials. */
  private authDisabled = false;
  /** The server asked for Basic (endpoints outside the token flow). */
  private basicWanted = false;

  constructor(opts: RegistryClientOptions) {
    this.baseUrl = opts.baseUrl.replace(/\/+$/, '');
    this.origin = new URL(this.baseUrl).origin;
    this.credentials = opts.credentials;
    this.userAgent = opts.userAgent ?? defaultUserAgent();
  }

  /** One request, its whole answer buffered. For blobs use requestStream. */
  async request(method: string, path: string, opts: RequestOptions = {}): Promise<RegistryResponse> {
    const res = await this.exchange(method, path, opts);
    return {
      status: res.statusCode ?? 0,
      headers: flatHeaders(res),
      body: method === 'HEAD' ? (await drain(res), Buffer.alloc(0)) : await readAll(res),
    };
  }

  /** Like request, but the body is the live response stream (downloads). Redirects of GET and HEAD are followed. */
  async requestStream(method: string, path: string, opts: RequestOptions = {}): Promise<RegistryStreamResponse> {
    const res = await this.exchange(method, path, opts);
    return { status: res.statusCode ?? 0, headers: flatHeaders(res), body: res };
  }

  /**
   * Checks the credentials by obtaining a token (no scope) from the registry's token endpoint, the way
   * `docker login` does. Resolves with whether the registry has authentication on at all.
   */
  async authenticate(): Promise<{ authEnabled: boolean }> {
    await this.discover();
    if (this.authDisabled) return { authEnabled: false };
    if (!this.bearer) {
      // Basic-only registries: check the credentials on /v2/ directly.
      const res = await this.request('GET', '/v2/');
      if (res.status !== 200) throw registryErrorOf(res, `logging in to ${this.origin}`);
      return { authEnabled: true };
    }
    await this.fetchToken([], `logging in to ${this.origin}`);
    return { authEnabled: true };
  }

  /** Closes idle connections (the process can exit without it: idle sockets do not hold it). */
  close(): void {
    this.transport.close();
  }

  private url(p: string, query?: Record<string, string>): URL {
    const url = /^https?:\/\//i.test(p) ? new URL(p) : new URL(p.startsWith('/') ? p : `/${p}`, `${this.baseUrl}/`);
    for (const [k, v] of Object.entries(query ?? {})) url.searchParams.set(k, v);
    return url;
  }

  private authorization(url: URL, scope: string | undefined): string | undefined {
    // Credentials and tokens go only to this registry, never to a redirect target (presigned storage URLs).
    if (url.origin !== this.origin) return undefined;
    const cached = this.tokens.get(scope ?? '');
    if (cached && cached.renewAt > Date.now()) return `Bearer ${cached.token}`;
    if (this.basicWanted && this.credentials) return basic(this.credentials);
    return undefined;
  }

  private async exchange(method: string, p: string, opts: RequestOptions): Promise<IncomingMessage> {
    const replayable = isReplayable(opts.body);
    if (!replayable) await this.prepare(opts.scope);
    let url = this.url(p, opts.query);
    let authRetried = false;
    let rateRetries = 0;
    let redirects = 0;
    for (;;) {
      const headers: Record<string, string> = { 'User-Agent': this.userAgent, ...(opts.headers ?? {}) };
      const auth = this.authorization(url, opts.scope);
      if (auth) headers.Authorization = auth;
      const res = await this.transport.send(method, url, headers, opts.body);
      const status = res.statusCode ?? 0;

      if (status === 401 && replayable && !authRetried && url.origin === this.origin) {
        const challenge = parseChallenge(res.headers['www-authenticate']);
        if (challenge && (await this.answer(challenge, opts.scope))) {
          await drain(res);
          authRetried = true;
          continue;
        }
      }
      if (status === 429 && replayable && rateRetries < MAX_RATE_LIMIT_RETRIES) {
        const after = Number(res.headers['retry-after']);
        if (Number.isFinite(after) && after <= 30) {
          await drain(res);
          rateRetries++;
          await sleep(Math.max(after, 1) * 1000);
          continue;
        }
      }
      if (
        (method === 'GET' || method === 'HEAD') &&
        [301, 302, 303, 307, 308].includes(status) &&
        res.headers.location &&
        redirects < MAX_REDIRECTS
      ) {
        await drain(res);
        redirects++;
        url = new URL(res.headers.location, url);
        continue;
      }
      return res;
    }
  }

  /** Reacts to a challenge; false when nothing can be done about it (no retry then). */
  private async answer(challenge: Challenge, scope: string | undefined): Promise<boolean> {
    if (challenge.scheme === 'bearer') {
      this.bearer = { realm: challenge.params.realm ?? '', service: challenge.params.service };
      // The caller's scope and the one the server names may differ (a mount also needs pull on the source).
      const scopes = [...new Set([scope, challenge.params.scope].filter((s): s is string => Boolean(s)))];
      const token = await this.fetchToken(scopes);
      this.tokens.set(scope ?? '', token);
      return true;
    }
    if (challenge.scheme === 'basic' && this.credentials && !this.basicWanted) {
      this.basicWanted = true;
      return true;
    }
    return false;
  }

  /** Before a request that cannot be replayed: learn the token service and hold a fresh token for the scope. */
  private async prepare(scope: string | undefined): Promise<void> {
    await this.discover();
    if (this.authDisabled || !this.bearer) return;
    const key = scope ?? '';
    const cached = this.tokens.get(key);
    if (cached && cached.renewAt > Date.now()) return;
    this.tokens.set(key, await this.fetchToken(scope ? [scope] : []));
  }

  /** GET /v2/ without credentials tells whether and how the registry authenticates. */
  private async discover(): Promise<void> {
    if (this.authDisabled || this.bearer || this.basicWanted) return;
    const res = await this.transport.send('GET', this.url('/v2/'), { 'User-Agent': this.userAgent });
    const body = await readAll(res);
    if (res.statusCode === 200) {
      this.authDisabled = true;
      return;
    }
    const challenge = res.statusCode === 401 ? parseChallenge(res.headers['www-authenticate']) : undefined;
    if (challenge?.scheme === 'bearer')
      this.bearer = { realm: challenge.params.realm ?? '', service: challenge.params.service };
    else if (challenge?.scheme === 'basic') this.basicWanted = true;
    else
      throw registryErrorOf(
        { status: res.statusCode ?? 0, headers: flatHeaders(res), body },
        `${this.origin}/v2/ is not an OCI registry endpoint`,
      );
  }

  private realmUrl(): URL {
    const realm = this.bearer?.realm ?? '';
    // Some endpoints name the realm rather than give its URL; the token endpoint is then the registry's own.
    if (/^https?:\/\//i.test(realm)) return new URL(realm);
    return new URL('/token', `${this.baseUrl}/`);
  }

  private async fetchToken(scopes: string[], context?: string): Promise<CachedToken> {
    const url = this.realmUrl();
    if (this.credentials && url.protocol === 'http:' && this.origin.startsWith('https:')) {
      throw new RegistryError({
        status: 0,
        code: 'UNAUTHORIZED',
        message: `the registry sent its token endpoint as plain HTTP (${url.origin}); refusing to send credentials there`,
        context,
      });
    }
    if (this.bearer?.service) url.searchParams.set('service', this.bearer.service);
    // A request may need several scopes (a mount: push here, pull there), given space-separated.
    for (const s of new Set(scopes.flatMap((x) => x.split(' ').filter(Boolean)))) url.searchParams.append('scope', s);
    const headers: Record<string, string> = { 'User-Agent': this.userAgent };
    if (this.credentials) headers.Authorization = basic(this.credentials);
    const res = await this.transport.send('GET', url, headers);
    const body = await readAll(res);
    const status = res.statusCode ?? 0;
    const who = this.credentials ? ` as ${this.credentials.username}` : ' anonymously';
    if (status !== 200) {
      throw registryErrorOf(
        { status, headers: flatHeaders(res), body },
        context ?? `getting a token from ${url.origin}${url.pathname}${who}`,
      );
    }
    let parsed: { token?: string; access_token?: string; expires_in?: number };
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      throw new RegistryError({
        status,
        code: 'UNAUTHORIZED',
        message: 'the token endpoint did not answer JSON',
        context,
      });
    }
    const token = parsed.token ?? parsed.access_token;
    if (!token)
      throw new RegistryError({
        status,
        code: 'UNAUTHORIZED',
        message: 'the token endpoint answered without a token',
        context,
      });
    // The spec's default lifetime is 60 s; renew a little before the end so a request never carries a dying token.
    const ttlMs = (typeof parsed.expires_in === 'number' && parsed.expires_in > 0 ? parsed.expires_in : 60) * 1000;
    return { token, renewAt: Date.now() + ttlMs - Math.min(30_000, ttlMs / 10) };
  }
}

function basic(c: { username: string; password: string }): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
}
