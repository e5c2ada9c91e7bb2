import { readFileSync, unwatchFile, watchFile } from 'node:fs';
import type https from 'node:https';
import { createSecureContext } from 'node:tls';
import { ConfigError, type Config } from '../config/config';
import type { Logger } from '../observability/logger';

type TlsConfig = NonNullable<Config['tls']>;

/** Reads the PEM pair; a missing or mismatched file stops start-up with a message naming it. */
export function readTlsFiles(tls: TlsConfig): { cert: Buffer; key: Buffer } {
  const read = (file: string, what: string) => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new ConfigError(`tls.${what}: cannot read ${file}: ${(err as Error).message}`);
    }
  };
  const pair = { cert: read(tls.certFile, 'certFile'), key: read(tls.keyFile, 'keyFile') };
  try {
    createSecureContext(pair);
  } catch (err) {
    throw new ConfigError(
      `tls: ${tls.certFile} and ${tls.keyFile} are not a usable certificate and key: ${(err as Error).message}`,
    );
  }
  return pair;
}

/**
 * Renewed certificates (cert-manager rewrites the mounted Secret, certbot the files) are picked up
 * without a restart: the files are polled, and a pair that does not load keeps the current one.
 */
export function watchTls(server: https.Server, tls: TlsConfig, logger: Logger): () => void {
  const reload = () => {
    try {
      server.setSecureContext(readTlsFiles(tls));
      logger.info({ certFile: tls.certFile }, 'tls certificate reloaded');
    } catch (err) {
      logger.error({ err: (err as Error).message }, 'tls certificate not reloaded; the previous one stays');
    }
  };
  const interval = tls.reloadIntervalSeconds * 1000;
  watchFile(tls.certFile, { interval, persistent: false }, reload);
  watchFile(tls.keyFile, { interval, persistent: false }, reload);
  return () => {
    unwatchFile(tls.certFile, reload);
    unwatchFile(tls.keyFile, reload);
  };
}
