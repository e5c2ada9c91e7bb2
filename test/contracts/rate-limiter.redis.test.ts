import { RedisRateLimiter } from '../../src/auth/redis-rate-limiter';
import { createRedisPrefix, serviceAvailable } from '../helpers/services';
import { rateLimiterContract } from './rate-limiter.contract';

rateLimiterContract('redis', async () => {
  if (!(await serviceAvailable('redis'))) throw new Error('Redis is required for these tests (127.0.0.1:6379)');
  const redis = createRedisPrefix();
  return { open: () => new RedisRateLimiter(redis.url), cleanup: redis.cleanup };
});
