import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { validateConfig, type Config, type ConfigInput } from '../../src/config/config';
import { startRegistry, type Registry } from '../../src/app';
import { createRedisPrefix, createTestDatabase } from './services';

export interface BackendProfile {
  database: 'sqlite' | 'postgres';
  sessions: 'memory' | 'redis';
}

/** The four combinations the conformance suite runs on. */
export const PROFILES: BackendProfile[] = [
  { database: 'sqlite', sessions: 'memory' },
  { database: 'postgres', sessions: 'redis' },
  { database: 'sqlite', sessions: 'redis' },
  { database: 'postgres', sessions: 'memory' },
];

export function profileName(p: BackendProfile): string {
  return `${p.database}+${p.sessions}`;
}

export interface TestRegistry {
  url: string;
  dataDir: string;
  config: Config;
  registry: Registry;
  /** Stops the server, keeps the data, database and Redis keys (for restart tests). */
  stop(): Promise<void>;
  /** Starts a new server on the same data, database and sessions. */
  restart(): Promise<TestRegistry>;
  /** Stops the server and removes everything it used. */
  close(): Promise<void>;
}

export async function startTestRegistry(profile: BackendProfile, overrides: ConfigInput = {}): Promise<TestRegistry> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'cairn-test-'));
  const db = profile.database === 'postgres' ? await createTestDatabase() : undefined;
  const redis = profile.sessions === 'redis' ? createRedisPrefix() : undefined;
  const config = validateConfig({
    listen: '127.0.0.1:0',
    dataDir,
    log: { level: process.env.CAIRN_TEST_LOG_LEVEL ?? 'silent' },
    ...(db ? { database: db.url } : {}),
    ...(redis ? { sessions: redis.url } : {}),
    ...overrides,
  });
  const cleanup = async () => {
    await db?.drop();
    await redis?.cleanup();
    await rm(dataDir, { recursive: true, force: true });
  };
  const boot = async (): Promise<TestRegistry> => {
    const registry = await startRegistry(config);
    let stopped = false;
    const stop = async () => {
      if (!stopped) {
        stopped = true;
        await registry.close();
      }
    };
    return {
      url: registry.url,
      dataDir,
      config,
      registry,
      stop,
      restart: async () => {
        await stop();
        return boot();
      },
      close: async () => {
        await stop();
        await cleanup();
      },
    };
  };
  return boot();
}
