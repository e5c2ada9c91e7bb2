import type Redis from 'ioredis';
import { connectRedis, openRedis } from '../config/redis-client';
import type { RateDecision, RateLimiter, RateRule } from './rate-limiter';

// KEYS[1] bucket; ARGV: perSecond, burst, cost, ttlMs. The clock is Redis's own (TIME), so replicas with
// skewed clocks still share one bucket fairly.
const TAKE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local b = redis.call('HMGET', KEYS[1], 'tokens', 'updated')
local tokens = tonumber(b[1])
local updated = tonumber(b[2])
if tokens == nil then tokens = burst; updated = now end
tokens = math.min(burst, tokens + math.max(0, now - updated) / 1000 * rate)
local allowed = 0
if cost == 0 then
  if tokens >= 1 then return {1, '0'} end
  return {0, tostring((1 - tokens) / rate)}
end
if tokens >= cost then tokens = tokens - cost; allowed = 1 end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'updated', tostring(now))
redis.call('PEXPIRE', KEYS[1], ARGV[4])
if allowed == 1 then return {1, '0'} end
return {0, tostring((cost - tokens) / rate)}
`;

/** Buckets in Redis, shared by every replica: `redis://host:6379/0[?prefix=cairn:]`. */
export class RedisRateLimiter implements RateLimiter {
  readonly kind = 'redis';
  private readonly redis: Redis;
  private readonly prefix: string;

  constructor(url: string) {
    const { redis, prefix } = openRedis(url, 'rate limits', { maxRetriesPerRequest: 2, enableOfflineQueue: false });
    this.redis = redis;
    this.prefix = `${prefix}rl:`;
    this.redis.defineCommand('cairnTake', { numberOfKeys: 1, lua: TAKE });
  }

  async init(): Promise<void> {
    await connectRedis(this.redis);
  }

  async close(): Promise<void> {
    this.redis.disconnect();
  }

  async take(key: string, rule: RateRule, cost = 1): Promise<RateDecision> {
    const ttl = Math.ceil((rule.burst / rule.perSecond) * 1000) + 1000;
    const [allowed, wait] = (await (
      this.redis as unknown as { cairnTake(k: string, ...a: (string | number)[]): Promise<[number, string]> }
    ).cairnTake(this.prefix + key, rule.perSecond, rule.burst, cost, ttl)) as [number, string];
    return allowed === 1
      ? { allowed: true, retryAfterSeconds: 0 }
      : { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(Number(wait))) };
  }
}
