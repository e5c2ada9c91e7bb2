import type { Config } from '../config/config';
import { closeBackends, openBackends, type Backends } from '../app';

/** Runs a command's work against the configured backends and always closes them. */
export async function withBackends<T>(config: Config, work: (b: Backends) => Promise<T>): Promise<T> {
  const b = await openBackends(config);
  try {
    return await work(b);
  } finally {
    await closeBackends(b);
  }
}
