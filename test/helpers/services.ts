import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import Redis from 'ioredis';

/**
 * Redis and PostgreSQL run on every development and CI machine. When CI=true a test that cannot reach them
 * fails; elsewhere it may be skipped (describeIfService), so a laptop without them still runs the rest.
 */
export const IN_CI = process.env.CI === 'true';
export const REDIS_URL = process.env.CAIRN_TEST_REDIS ?? 'redis://127.0.0.1:6379/0';
export const POSTGRES_ADMIN_URL = process.env.CAIRN_TEST_POSTGRES ?? 'postgres://postgres@127.0.0.1:5432/test';

export function uniqueName(prefix: string): string {
  return `${prefix}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
}

export async function redisReachable(): Promise<boolean> {
  const r = new Redis(REDIS_URL, {
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    connectTimeout: 2000,
    retryStrategy: () => null,
  });
  try {
    await r.connect();
    return (await r.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    r.disconnect();
  }
}

export async function postgresReachable(): Promise<boolean> {
  const c = new Client({ connectionString: POSTGRES_ADMIN_URL, connectionTimeoutMillis: 2000 });
  try {
    await c.connect();
    await c.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await c.end().catch(() => undefined);
  }
}

/** Throws in CI when the service is missing; otherwise answers whether tests needing it should run. */
export async function serviceAvailable(name: 'redis' | 'postgres'): Promise<boolean> {
  const ok = name === 'redis' ? await redisReachable() : await postgresReachable();
  if (!ok && IN_CI) throw new Error(`${name} is not reachable and CI=true: tests that need it must fail, not skip`);
  if (!ok) console.warn(`${name} is not reachable: skipping the tests that need it (they fail when CI=true)`);
  return ok;
}

/** A fresh PostgreSQL database for one test file; drop() removes it. */
export async function createTestDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = uniqueName('cairn_test').toLowerCase();
  const admin = new Client({ connectionString: POSTGRES_ADMIN_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const u = new URL(POSTGRES_ADMIN_URL);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    drop: async () => {
      const c = new Client({ connectionString: POSTGRES_ADMIN_URL });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

/** A Redis key prefix for one test file; cleanup() deletes every key under it. */
export function createRedisPrefix(): { url: string; prefix: string; cleanup: () => Promise<void> } {
  const prefix = `${uniqueName('cairn-test')}:`;
  const u = new URL(REDIS_URL);
  u.searchParams.set('prefix', prefix);
  return {
    url: u.toString(),
    prefix,
    cleanup: async () => {
      const r = new Redis(REDIS_URL);
      try {
        let cursor = '0';
        do {
          const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
          cursor = next;
          if (keys.length) await r.del(...keys);
        } while (cursor !== '0');
      } finally {
        r.disconnect();
      }
    },
  };
}
