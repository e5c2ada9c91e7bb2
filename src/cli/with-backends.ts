import type { Config } from '../config/config';
import { openBackends, type Backends } from '../app';

/** Runs a command's work against the configured backends and always closes them. */
export async function withBackends<T>(config: Config, work: (b: Backends) => Promise<T>): Promise<T> {
  const b = await openBackends(config);
  try {
    return await work(b);
  } finally {
    await Promise.allSettled([b.blobs.close(), b.sessions.close(), b.catalog.close()]);
  }
}
