import { randomUUID } from 'node:crypto';
import type Redis from 'ioredis';
import { connectRedis, openRedis } from '../config/redis-client';
import type { UploadSession, UploadSessionStore } from './upload-session-store';

// Compare-and-set of the offset, with the idle timer refreshed, in one atomic step.
const ADVANCE = `
local cur = redis.call('HGET', KEYS[1], 'offset')
if not cur or cur ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'offset', ARGV[2], 'updatedAt', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1`;

// Take the lease when free, or renew it when the caller already holds it.
const LOCK = `
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`;

const UNLOCK = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

const TOUCH = `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'updatedAt', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1`;

/**
 * Sessions in Redis, shared by every replica and surviving a registry restart. A session is a hash whose
 * key expires after the idle time; every write refreshes the expiry.
 * The URL may carry `?prefix=` (default `cairn:`) so that several registries can share one Redis.
 */
export class RedisSessionStore implements UploadSessionStore {
  readonly kind = 'redis';
  private readonly redis: Redis;
  private readonly prefix: string;

  constructor(
    url: string,
    private readonly idleMs: number,
  ) {
    const { redis, prefix } = openRedis(url, 'upload sessions', { maxRetriesPerRequest: 3, enableOfflineQueue: true });
    this.redis = redis;
    this.prefix = prefix;
  }

  private key(id: string): string {
    return `${this.prefix}upload:${id}`;
  }

  private lockKey(id: string): string {
    return `${this.prefix}upload-lock:${id}`;
  }

  async init(): Promise<void> {
    await connectRedis(this.redis);
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }

  async create(s: Pick<UploadSession, 'id' | 'repository' | 'owner'>): Promise<UploadSession> {
    const now = Date.now();
    const session: UploadSession = { id: s.id, repository: s.repository, offset: 0, createdAt: now, updatedAt: now };
    if (s.owner) session.owner = s.owner;
    await this.redis
      .multi()
      .hset(this.key(s.id), {
        repository: s.repository,
        offset: '0',
        createdAt: String(now),
        updatedAt: String(now),
        ...(s.owner ? { owner: s.owner } : {}),
      })
      .pexpire(this.key(s.id), this.idleMs)
      .exec();
    return session;
  }

  async get(id: string): Promise<UploadSession | undefined> {
    const h = await this.redis.hgetall(this.key(id));
    if (!h.repository) return undefined;
    const session: UploadSession = {
      id,
      repository: h.repository,
      offset: Number(h.offset),
      createdAt: Number(h.createdAt),
      updatedAt: Number(h.updatedAt),
    };
    if (h.owner) session.owner = h.owner;
    return session;
  }

  async advance(id: string, expected: number, next: number): Promise<boolean> {
    const r = await this.redis.eval(
      ADVANCE,
      1,
      this.key(id),
      String(expected),
      String(next),
      String(Date.now()),
      String(this.idleMs),
    );
    return r === 1;
  }

  async touch(id: string): Promise<boolean> {
    return (await this.redis.eval(TOUCH, 1, this.key(id), String(Date.now()), String(this.idleMs))) === 1;
  }

  async lock(id: string, ttlMs: number, token?: string): Promise<string | undefined> {
    const t = token ?? randomUUID();
    const r = await this.redis.eval(LOCK, 1, this.lockKey(id), t, String(ttlMs));
    return r === 1 ? t : undefined;
  }

  async unlock(id: string, token: string): Promise<void> {
    await this.redis.eval(UNLOCK, 1, this.lockKey(id), token);
  }

  async delete(id: string): Promise<void> {
    await this.redis.del(this.key(id), this.lockKey(id));
  }
}
