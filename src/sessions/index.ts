import type { UploadSessionStore } from './upload-session-store';
import { MemorySessionStore } from './memory-session-store';

/** `memory` or `redis://host:port/db?prefix=…` (the Redis client is loaded only then). */
export function createSessionStore(url: string, idleMs: number): UploadSessionStore {
  if (url === 'memory') return new MemorySessionStore(idleMs);
  if (/^rediss?:\/\//.test(url))
    return new (require('./redis-session-store') as typeof import('./redis-session-store')).RedisSessionStore(
      url,
      idleMs,
    );
  throw new Error(`unsupported session store: ${url}`);
}
