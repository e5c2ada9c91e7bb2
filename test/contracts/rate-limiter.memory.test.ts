import { MemoryRateLimiter } from '../../src/auth/rate-limiter';
import { rateLimiterContract } from './rate-limiter.contract';

rateLimiterContract('memory', async () => ({ open: () => new MemoryRateLimiter(), cleanup: async () => undefined }));
