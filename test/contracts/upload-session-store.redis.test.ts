import { RedisSessionStore } from '../../src/sessions/redis-session-store';
import { createRedisPrefix, serviceAvailable } from '../helpers/services';
import { sessionStoreContract } from './upload-session-store.contract';

beforeAll(async () => {
  // Throws when CI=true and Redis is unreachable: such a run must fail, not skip.
  if (!(await serviceAvailable('redis'))) throw new Error('Redis is required for these tests (127.0.0.1:6379)');
});

sessionStoreContract('redis', true, async () => {
  const { url, cleanup } = createRedisPrefix();
  return { open: (idleMs) => new RedisSessionStore(url, idleMs), cleanup };
});
