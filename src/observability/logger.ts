import pino, { type Logger } from 'pino';

export type { Logger };

/** JSON logs on stdout. Secrets never reach a log: authorization headers are redacted wherever they appear. */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: { service: 'cairn' },
    redact: { paths: ['req.headers.authorization', 'headers.authorization', 'authorization'], censor: '[redacted]' },
  });
}
