import Redis, { type RedisOptions } from 'ioredis';
import { caBundleOf } from './ca-bundle';

/**
 * A Redis client for a `redis://` or `rediss://` URL as Cairn's stores take it: `?prefix=` (returned,
 * default `cairn:`) and `?ca=` (a private CA for rediss://) are Cairn's, the rest is ioredis's. Not
 * connected yet: `connectRedis`.
 */
export function openRedis(url: string, what: string, options: RedisOptions): { redis: Redis; prefix: string } {
  const u = new URL(url);
  const prefix = u.searchParams.get('prefix') ?? 'cairn:';
  const ca = caBundleOf(u, u.protocol === 'rediss:', `${what} (Redis)`);
  u.search = '';
  const redis = new Redis(u.toString(), {
    lazyConnect: true,
    ...options,
    // rediss:// turns TLS on with the system's roots; ca= trusts a private CA instead.
    ...(ca ? { tls: { ca } } : {}),
  });
  return { redis, prefix };
}

/**
 * Connects and checks with a PING. ioredis rejects a failed TLS handshake as "Connection is closed."
 * and tells the cause only to its 'error' listeners: that cause (an untrusted certificate, say) is what
 * start-up reports.
 */
export async function connectRedis(redis: Redis): Promise<void> {
  let cause: Error | undefined;
  const onError = (err: Error) => (cause ??= err);
  redis.on('error', onError);
  try {
    await redis.connect();
    await redis.ping();
  } catch (err) {
    throw cause ?? err;
  } finally {
    redis.off('error', onError);
  }
}
