import type { UploadSessionStore } from './upload-session-store';
import { MemorySessionStore } from './memory-session-store';
import { RedisSessionStore } from './redis-session-store';

/** `memory` or `redis://host:port/db?prefix=…`. */
export function createSessionStore(url: string, idleMs: number): UploadSessionStore {
  if (url === 'memory') return new MemorySessionStore(idleMs);
  if (/^rediss?:\/\//.test(url)) return new RedisSessionStore(url, idleMs);
  throw new Error(`unsupported session store: ${url}`);
}
