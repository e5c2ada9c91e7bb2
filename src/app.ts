import type { Config } from './config/config';

/** A running registry: the HTTP server and the backends behind it. */
export interface Registry {
  /** http://host:port the server listens on (the real port when 0 was asked). */
  url: string;
  config: Config;
  close(): Promise<void>;
}

export async function startRegistry(_config: Config): Promise<Registry> {
  throw new Error('not written yet');
}
