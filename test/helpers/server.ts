import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { validateConfig, type Config, type ConfigInput } from '../../src/config/config';
import { startRegistry, type Registry } from '../../src/app';
import type { Logger } from '../../src/observability/logger';
import { createRedisPrefix, createTestDatabase } from './services';
import { testS3, uniqueBucket } from './s3';

export interface BackendProfile {
  database: 'sqlite' | 'postgres';
  sessions: 'memory' | 'redis';
  /** Blob storage: the file system (default) or S3 on the run's Ceph RGW. */
  storage?: 'fs' | 's3';
  /** Two replicas sharing the state; clients alternate between them, as behind a load balancer. */
  replicas?: 1 | 2;
}

/** The combinations the conformance suite runs on; the scale-out one on S3 when the run has an RGW. */
export const PROFILES: BackendProfile[] = [
  { database: 'sqlite', sessions: 'memory' },
  { database: 'postgres', sessions: 'redis' },
  { database: 'sqlite', sessions: 'redis' },
  { database: 'postgres', sessions: 'memory' },
  ...(testS3() ? [{ database: 'postgres', sessions: 'redis', storage: 's3', replicas: 2 } as const] : []),
];

export function profileName(p: BackendProfile): string {
  return `${p.database}+${p.sessions}${p.storage === 's3' ? '+s3' : ''}${p.replicas === 2 ? ' x2 replicas' : ''}`;
}

export interface TestRegistry {
  url: string;
  /** Every replica's URL (one unless the profile asks for two). */
  urls: string[];
  dataDir: string;
  config: Config;
  registry: Registry;
  /** Stops the server, keeps the data, database and Redis keys (for restart tests). */
  stop(): Promise<void>;
  /**
   * Starts a new server on the same data, database and sessions; with `next`, on that configuration
   * from then on (another key, say).
   */
  restart(next?: Config): Promise<TestRegistry>;
  /** Stops the server and removes everything it used. */
  close(): Promise<void>;
}

export async function startTestRegistry(
  profile: BackendProfile,
  overrides: ConfigInput = {},
  options: { logger?: Logger } = {},
): Promise<TestRegistry> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'cairn-test-'));
  const db = profile.database === 'postgres' ? await createTestDatabase() : undefined;
  const redis = profile.sessions === 'redis' ? createRedisPrefix() : undefined;
  const s3 = profile.storage === 's3' ? testS3() : undefined;
  if (profile.storage === 's3' && !s3) throw new Error('this run has no S3 (Ceph RGW) for an s3 profile');
  if (s3) {
    // The registry reads S3 credentials from the standard variables, as it does in production.
    process.env.AWS_ACCESS_KEY_ID = s3.accessKey;
    process.env.AWS_SECRET_ACCESS_KEY = s3.secretKey;
  }
  const config = validateConfig({
    listen: '127.0.0.1:0',
    dataDir,
    log: { level: process.env.CAIRN_TEST_LOG_LEVEL ?? 'silent' },
    // Suites about storage and the protocol run without authentication; test/auth/ runs with it.
    auth: { mode: 'none' },
    ...(db ? { database: db.url } : {}),
    ...(redis ? { sessions: redis.url } : {}),
    ...(s3 ? { storage: `s3://${uniqueBucket()}?endpoint=${encodeURIComponent(s3.endpoint)}` } : {}),
    ...overrides,
  });
  const cleanup = async () => {
    await db?.drop();
    await redis?.cleanup();
    await rm(dataDir, { recursive: true, force: true });
  };
  const boot = async (config: Config): Promise<TestRegistry> => {
    const registry = await startRegistry(config, options);
    const second = profile.replicas === 2 ? await startRegistry(config, options) : undefined;
    let stopped = false;
    const stop = async () => {
      if (!stopped) {
        stopped = true;
        await second?.close();
        await registry.close();
      }
    };
    return {
      url: registry.url,
      urls: second ? [registry.url, second.url] : [registry.url],
      dataDir,
      config,
      registry,
      stop,
      restart: async (next = config) => {
        await stop();
        return boot(next);
      },
      close: async () => {
        await stop();
        await cleanup();
      },
    };
  };
  return boot(config);
}
