import { MemoryRateLimiter, type RateLimiter } from './rate-limiter';

/** `memory` or a Redis URL (the Redis client is loaded only then). */
export function createRateLimiter(url: string): RateLimiter {
  if (url === 'memory') return new MemoryRateLimiter();
  return new (require('./redis-rate-limiter') as typeof import('./redis-rate-limiter')).RedisRateLimiter(url);
}
